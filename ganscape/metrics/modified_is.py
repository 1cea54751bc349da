"""DeLiGAN's modified Inception Score (Gurumurthy et al., CVPR 2017), intra-class diversity.

Source: the authors' code, val-iisc/deligan (modified inception score script). Samples are grouped by predicted class
c = argmax p(y|x); within group P_c::

    diff_i  = mean_{j in P_c} KL(p(y|x_i) || p(y|x_j))        (j ranges over all of P_c, i included)
    score_c = exp(mean_{i in P_c} diff_i)

and the result is (mean, std) of score_c over the classes that received at least one sample (population std). Higher
is more diverse within classes; a class whose samples all have identical predictions scores exp(0) = 1.

The double mean has a closed form, so no |P_c| x |P_c| matrix is built:
mean_{i,j} KL(p_i || p_j) = mean_i sum_k p_ik log p_ik - sum_k (mean_i p_ik)(mean_j log p_jk).
Probabilities are clipped to ``eps`` inside the logarithms (KL to a zero entry is otherwise infinite); the default
1e-12 only matters for exactly-zero probabilities."""
from __future__ import annotations

import numpy as np

from ganscape.metrics.inception_score import check_probs


def class_score(p: np.ndarray, eps: float) -> float:
    """exp(mean_{i,j} KL(p_i || p_j)) for the (n, C) rows of one class group."""
    logp = np.log(np.clip(p, eps, None))
    neg_entropy = (p * logp).sum(axis=1).mean()
    cross = p.mean(axis=0) @ logp.mean(axis=0)
    return float(np.exp(neg_entropy - cross))


def modified_inception_score(probs, eps: float = 1e-12) -> tuple[float, float]:
    """(N, C) probabilities -> (mean, std) of the per-class scores."""
    p = check_probs(probs)
    pred = p.argmax(axis=1)
    scores = [class_score(p[pred == c], eps) for c in np.unique(pred)]
    return float(np.mean(scores)), float(np.std(scores))
