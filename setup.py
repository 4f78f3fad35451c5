"""Package metadata read from settings.ini (nbdev 2 layout, without pkg_resources)."""
import glob, shlex, shutil
from configparser import ConfigParser
from pathlib import Path
import setuptools
from setuptools.command.build_py import build_py

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']
req = lambda key: shlex.split(cfg.get(key, ''))
min_python = cfg['min_python']
extras = {k: req(f'{k}_requirements') for k in ('bench', 'tensorboard', 'wandb', 'docs')}
extras['dev'] = sorted({r for k in ('bench', 'tensorboard', 'wandb', 'docs') for r in extras[k]} | set(req('dev_requirements')))

# Templates and configs the commands use, shipped in the wheel under deeplense_nb/assets/ (same relative paths) and
# found through importlib.resources (deeplense_nb.core.package_path); a checkout uses its own copies.
ASSETS = ['nbs/experiments/*.ipynb', 'nbs/experiments/studies/*.ipynb', 'nbs/explore/eda.ipynb',
          'configs/*.yaml', 'configs/studies/*.yaml', 'configs/recipes/*.yaml', 'configs/robust/*.yaml']


class build_py_with_assets(build_py):
    "build_py that also copies ASSETS into the built package."
    def run(self):
        super().run()
        if self.editable_mode: return  # an editable install reads the checkout
        for pattern in ASSETS:
            for f in sorted(glob.glob(pattern)):
                dst = Path(self.build_lib)/cfg['lib_name']/'assets'/f
                dst.parent.mkdir(parents=True, exist_ok=True); shutil.copyfile(f, dst)


setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license='Apache-2.0',
    url=cfg['git_url'],
    keywords=cfg['keywords'].split(),
    classifiers=['Programming Language :: Python :: 3', 'Development Status :: 3 - Alpha',
                 'Intended Audience :: Science/Research', 'Topic :: Scientific/Engineering :: Astronomy'],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_name']: ['weights/*.safetensors', 'weights/*.json', 'weights/*.md']},
    cmdclass={'build_py': build_py_with_assets},
    install_requires=req('requirements'),
    extras_require=extras,
    python_requires=f'>={min_python}',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts').split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
