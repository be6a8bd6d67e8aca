"""hoag_shine: gradient-based hyperparameter optimization with SHINE."""
from .display import HistoryDisplay
from .estimator import HyperOptimizer
from .implicit.hypergradient import HypergradientResult, hypergradient, solve_and_differentiate
from .implicit.methods import METHODS, HypergradientMethod, get_method
from .model.datafit import LogisticLoss
from .model.problem import InnerProblem
from .model.scoring import SCORINGS, ProbabilityLoss, get_scoring
from .outer.criterion import HeldOutCriterion
from .outer.loop import STOP_MESSAGES, HOAGResult, hoag
from .parallel.runner import WorkerLostError
from .solver.initial import INITIAL_MATRICES, get_initial_matrix
from .solver.lbfgs import InnerConvergenceWarning, minimize_lbfgs
from .solver.memory import InverseHessianOperator, LBFGSMemory
from .solver.opa import OPAUpdates
from .tuning import ScalarFallbackWarning

__version__ = "0.4.0"

__all__ = [
    "get_initial_matrix",
    "get_method",
    "get_scoring",
    "HeldOutCriterion",
    "HistoryDisplay",
    "hoag",
    "HOAGResult",
    "hypergradient",
    "HypergradientMethod",
    "HypergradientResult",
    "HyperOptimizer",
    "INITIAL_MATRICES",
    "InnerConvergenceWarning",
    "InnerProblem",
    "InverseHessianOperator",
    "LBFGSMemory",
    "LogisticLoss",
    "METHODS",
    "minimize_lbfgs",
    "OPAUpdates",
    "ProbabilityLoss",
    "ScalarFallbackWarning",
    "SCORINGS",
    "solve_and_differentiate",
    "STOP_MESSAGES",
    "WorkerLostError",
]
