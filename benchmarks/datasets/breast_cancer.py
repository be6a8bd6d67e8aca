"""Breast cancer (ships with scikit-learn): 569 x 30, standardised; for quick runs."""
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler


def load(data_home=None):
    """Load the data set, standardise the features, labels malignant -1 / benign +1."""
    X, y = load_breast_cancer(return_X_y=True)
    return sp.csr_matrix(StandardScaler().fit_transform(X)), np.where(y == 1, 1.0, -1.0)
