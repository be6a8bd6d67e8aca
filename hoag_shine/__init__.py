"""hoag_shine: gradient-based hyperparameter optimization with SHINE."""
from .datafit import LogisticLoss
from .hypergradient import HypergradientResult, hypergradient, solve_and_differentiate
from .inner import InnerProblem
from .lbfgs import InnerConvergenceWarning, minimize_lbfgs
from .memory import InverseHessianOperator, LBFGSMemory
from .methods import METHODS, HypergradientMethod, get_method
from .opa import OPAUpdates
from .penalty import L2Penalty

__version__ = "0.1.0"

__all__ = [
    "HypergradientMethod",
    "HypergradientResult",
    "METHODS",
    "OPAUpdates",
    "get_method",
    "hypergradient",
    "solve_and_differentiate",
    "InnerConvergenceWarning",
    "InnerProblem",
    "InverseHessianOperator",
    "L2Penalty",
    "LBFGSMemory",
    "LogisticLoss",
    "minimize_lbfgs",
]
