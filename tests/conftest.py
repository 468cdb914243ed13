import pathlib
import sys

# validation/ is a top-level folder of the repository, not part of the installed package.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
