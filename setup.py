"""Package metadata read from settings.ini (nbdev 2 layout, without pkg_resources)."""
import shlex
from configparser import ConfigParser
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
min_python = cfg['min_python']

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
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    python_requires=f'>={min_python}',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts').split(),
        'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
)
