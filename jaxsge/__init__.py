"""jaxsge: spin-resolved multi-terminal transport and spin-charge conversion in magnetic tunnel junctions.

Conventions and parameter names: ``shared/model.md``. Physics: G. Fleury, M. Barth,
C. Gorini, Phys. Rev. B 108, L081402 (2023).
"""

from . import presets, response
from .config import load_params
from .model import LEADS, SIDE_LEADS
from .model import JunctionParams
from .solve import Transmissions, transmissions

__all__ = ["JunctionParams", "Transmissions", "transmissions", "load_params", "LEADS", "SIDE_LEADS"]
__version__ = "0.1.0"
