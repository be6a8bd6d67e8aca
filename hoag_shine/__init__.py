"""hoag_shine: gradient-based hyperparameter optimization with SHINE."""
from ._parallel import WorkerLostError
from .acceptance import LossEstimate, TrustedDecrease
from .criterion import FoldState, HeldOutCriterion
from .datafit import (BinaryLogistic, LinearLoss, LogisticLoss, MultinomialLogistic,
                      MultinomialLoss, ProbabilityPointwise, make_datafit)
from .display import HistoryDisplay
from .escalation import BackwardEscalation
from .estimator import HyperOptimizer
from .hypergradient import HypergradientResult, hypergradient, solve_and_differentiate
from .initial import (INITIAL_MATRICES, InverseDiagonal, ScaledIdentity,
                      get_initial_matrix, hessian_diagonal_initial)
from .inner import InnerProblem
from .lbfgs import InnerConvergenceWarning, minimize_lbfgs
from .memory import InverseHessianOperator, LBFGSMemory
from .methods import METHODS, HypergradientMethod, get_method
from .opa import OPAUpdates
from .outer import STOP_MESSAGES, TOLERANCE_SCHEDULES, HOAGResult, hoag
from .penalty import L2Penalty
from .scoring import SCORINGS, ProbabilityLoss, get_scoring
from .steps import SecantTrustRegion, Step

__version__ = "0.4.0"

__all__ = [
    "BackwardEscalation",
    "BinaryLogistic",
    "FoldState",
    "get_initial_matrix",
    "get_method",
    "get_scoring",
    "HeldOutCriterion",
    "hessian_diagonal_initial",
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
    "InverseDiagonal",
    "InverseHessianOperator",
    "L2Penalty",
    "LBFGSMemory",
    "LinearLoss",
    "LogisticLoss",
    "LossEstimate",
    "make_datafit",
    "METHODS",
    "minimize_lbfgs",
    "MultinomialLogistic",
    "MultinomialLoss",
    "OPAUpdates",
    "ProbabilityLoss",
    "ProbabilityPointwise",
    "ScaledIdentity",
    "SCORINGS",
    "SecantTrustRegion",
    "solve_and_differentiate",
    "Step",
    "STOP_MESSAGES",
    "TOLERANCE_SCHEDULES",
    "TrustedDecrease",
    "WorkerLostError",
]
