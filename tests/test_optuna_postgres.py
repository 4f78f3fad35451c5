"""Optuna on a real database: a throw-away PostgreSQL server (the Debian package's binaries, on 127.0.0.1, in a
temporary data directory, stopped at the end) and two `deeplense-nb study hparams` workers on one search through
`--storage postgresql://...`. Both workers' trials land in the one study, none is run twice, and the workers stop at
the trial budget between them. Skipped, with the reason, only where PostgreSQL or its Python driver is missing."""
import glob, json, os, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    "A PostgreSQL server binary: on PATH, else in Debian's /usr/lib/postgresql/<version>/bin."
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl): pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is missing (pip install 'psycopg[binary]')")
    # the server refuses to run as root: as root it runs as the package's `postgres` user, in a folder that user owns
    as_user = []
    tmp = Path(tempfile.mkdtemp(prefix="deeplense-pg-"))
    if os.geteuid() == 0:
        import pwd
        try: pw = pwd.getpwnam("postgres")
        except KeyError: pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(tmp, pw.pw_uid, pw.pw_gid); as_user = ["runuser", "-u", "postgres", "--"]
    data, port = tmp/"data", _free_port()
    sh = lambda *cmd, **kw: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, **kw)
    try:
        sh(initdb, "-D", str(data), "-U", "deeplense", "--auth=trust", "-E", "UTF8")
        sh(pg_ctl, "-D", str(data), "-l", str(tmp/"server.log"), "-w", "-t", "60",
           "-o", f"-h 127.0.0.1 -p {port} -k {tmp} -c fsync=off", "start")
        try:
            sh("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "deeplense", "-d", "postgres", "-c", "CREATE DATABASE optuna")
            yield f"postgresql://deeplense@127.0.0.1:{port}/optuna"
        finally:
            sh(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{e.cmd}: {e.stderr}\n{(tmp/'server.log').read_text() if (tmp/'server.log').exists() else ''}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_two_workers_share_one_postgresql_study(postgres_url, tmp_path):
    import optuna
    n_trials = 4
    # each worker a machine of its own: its own runs folder and results, one database between them
    cmd = lambda i: [str(Path(sys.executable).parent/"deeplense-nb"), "study", "hparams", "--preset", "tiny", "--storage", postgres_url,
                     "--n-trials", str(n_trials), "--root", str(tmp_path/f"runs{i}"), "--results", str(tmp_path/f"results{i}"), "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    workers = [subprocess.Popen(cmd(i), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) for i in (0, 1)]
    logs = [w.communicate(timeout=900)[0] for w in workers]
    for w, log in zip(workers, logs): assert w.returncode == 0, log[-3000:]

    st = optuna.load_study(study_name="hparams-tiny", storage=postgres_url)
    trials = st.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    assert set(states) <= {"COMPLETE", "PRUNED"}, states
    # the budget is shared: the workers stop together at it (two asking at the same moment may add one trial each)
    assert n_trials <= len(trials) <= n_trials + 1, states
    workers_seen = {t.user_attrs["worker"] for t in trials}
    assert len(workers_seen) == 2, f"every trial came from one worker: {workers_seen}"
    # sampled trials differ (an enqueued point is the same by design, and two workers starting at one instant may both ask it)
    points = [tuple(sorted(t.params.items())) for t in trials if "fixed_params" not in t.system_attrs]
    assert len(points) >= n_trials - 2 and len(set(points)) == len(points), f"two workers drew the same trial (one sampler seed for both?): {points}"
    # every trial ran once, in the runs folder of the worker the study records for it
    ran = {int(p.parent.name.split("-")[1]): i for i in (0, 1)
           for p in (tmp_path/f"runs{i}"/"studies"/"hparams"/"tiny").glob("trial-*/metrics.json")}
    assert sorted(ran) == sorted(t.number for t in trials)
    for i in (0, 1):
        table = (tmp_path/f"results{i}"/"hparams"/"tiny"/"trials.csv").read_text().splitlines()
        assert len(table) - 1 >= sum(v == i for v in ran.values())
        prov = json.loads((tmp_path/f"results{i}"/"hparams"/"tiny"/"provenance.json").read_text())
        assert prov["optuna_storage"] == "(given)", "a database URL (it may hold a password) is not written to results"
