"""jaxsge: spin-resolved multi-terminal transport and spin-charge conversion in layered magnetic tunnel junctions.

Physics: G. Fleury, M. Barth, C. Gorini, Phys. Rev. B 108, L081402 (2023); conventions of every
number: ``docs/model.md``. The package follows the data flow: ``io.config`` (TOML and --set) ->
``model`` (Stack, JunctionParams, System) -> ``plan`` (static decisions) -> ``solve`` (the one
traceable solver) -> ``observables`` (response, temperature, sensitivities, harmonics) and
``ensemble`` -> ``io.files`` and ``plot``; ``cli`` is the command line, ``well`` the magnetic
quantum well of A. Hariri, M. Alawein, A. Manchon, arXiv:1907.07116.
"""

__version__ = "0.3.0"

from .model.junction import LEADS, SIDE_LEADS, JunctionParams, junction, mechanism, three_terminal  # noqa: E402
from .model.stack import Layer, SideLead, Stack, VerticalLead  # noqa: E402
from .model.system import System, junction_system, stack_system  # noqa: E402
from .solve.transmissions import Transmissions, solve, transmissions  # noqa: E402
from .io.results import load, stack_of  # noqa: E402
from .observables.densities import Densities, densities  # noqa: E402

__all__ = ["JunctionParams", "Layer", "SideLead", "Stack", "VerticalLead", "System", "Transmissions", "solve",
           "transmissions", "junction", "mechanism", "three_terminal", "junction_system", "stack_system", "LEADS",
           "SIDE_LEADS", "load", "stack_of", "Densities", "densities"]
