"""README.md is generated from nbs/index.ipynb (its markdown cells, with links made relative to the repo root).

    python docs/scripts/readme.py          # write README.md
    python docs/scripts/readme.py --check  # exit 1 if README.md is not in step with nbs/index.ipynb
"""
import sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[2]


def render(nb_path=ROOT / "nbs" / "index.ipynb") -> str:
    "README text from the markdown cells of the index notebook."
    nb = nbformat.read(nb_path, as_version=4)
    text = "\n\n".join(c.source.strip() for c in nb.cells if c.cell_type == "markdown")
    return text.replace("](../", "](") + "\n"


if __name__ == "__main__":
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        ok = readme.read_text() == render()
        print("README.md is in step with nbs/index.ipynb" if ok else "README.md differs from nbs/index.ipynb: run `make readme`")
        sys.exit(0 if ok else 1)
    readme.write_text(render()); print(f"wrote {readme}")
