"""Build hook: ship the Snakemake workflow inside the package.

The repository keeps ``Snakefile``, ``workflow/`` and ``config/`` at its root
(where ``snakemake`` finds them); a wheel copies them into
``tvbo_pipe/_workflow/`` so that the ``tvbo-pipe`` BIDS-app command runs the
same files when tvbo_pipe is installed without its source tree. Editable
installs use the source tree itself (``tvbo_pipe.bids_app.workflow_dir``).
Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("Snakefile", "workflow", "config")


class BuildPyWithWorkflow(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "tvbo_pipe" / "_workflow"
        shutil.rmtree(target, ignore_errors=True)
        for name in SHIPPED:
            src = ROOT / name
            if src.is_dir():  # symlinks (workflow/schemas) become copies
                shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / name)


setup(cmdclass={"build_py": BuildPyWithWorkflow})
