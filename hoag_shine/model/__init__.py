"""The model: the training loss (datafits), its l2 penalty, the inner problem they
make, and the held-out losses (scorings) that judge its predictions."""
