import numpy as np

from diffuhand.kinematics import load_limits
from diffuhand.kinematics.prior import PosePrior, default_prior, fit_prior


def test_shipped_prior_samples_inside_the_limits():
    lim = load_limits()
    prior = default_prior()
    assert prior.provenance["poses"] > 7000 and "diffuhand prior" in prior.provenance["command"]
    x = prior.sample(500, np.random.default_rng(0), lim)
    assert x.shape == (500, 41) and lim.contains(x)
    assert np.all(x[:, :3] == 0)
    # a prior, not noise: the samples spread less than uniform draws inside the limits
    uni = lim.angle_min + (lim.angle_max - lim.angle_min) * np.random.default_rng(1).random((500, 41))
    free = prior.angle_index
    assert x[:, free].std(0).mean() < 0.8 * uni[:, free].std(0).mean()


def test_em_recovers_two_clusters():
    lim = load_limits()
    rng = np.random.default_rng(0)
    base = np.tile(lim.angle_neutral, (2000, 1))
    free = np.nonzero(lim.angle_max > lim.angle_min)[0]
    free = free[free >= 3]
    shift = np.zeros(41)
    shift[free] = 0.3
    base[:1000] += shift
    base += rng.normal(size=base.shape) * 0.02
    prior = fit_prior(base, lim, components=2, iterations=30)
    centres = sorted(prior.means[:, 0])
    np.testing.assert_allclose(
        centres, sorted([lim.angle_neutral[free[0]], lim.angle_neutral[free[0]] + 0.3]), atol=0.02
    )
    np.testing.assert_allclose(sorted(prior.weights), [0.5, 0.5], atol=0.02)


def test_prior_command(tmp_path):
    from diffuhand.cli import main
    from diffuhand.kinematics.prior import PosePrior

    from ..conftest import shared

    files = sorted(shared("dexycb-left-sequences/sequences").glob("*.npz"))[:2]
    out = tmp_path / "prior.json"
    assert main(["prior", *map(str, files), "--order", "mano", "--components", "2", "--out", str(out)]) == 0
    prior = PosePrior.load(out)
    assert prior.means.shape[0] == 2 and prior.provenance["poses"] > 100
    assert load_limits().contains(prior.sample(50, np.random.default_rng(0)))


def test_log_prob_is_the_mixtures_density():
    """log_prob against scipy's multivariate normal densities, mixed by the weights (an independent reference)."""
    from scipy.stats import multivariate_normal

    prior = default_prior()
    x = prior.sample(5, np.random.default_rng(2), load_limits())
    free = x[:, prior.angle_index]
    expected = np.log(
        sum(w * multivariate_normal(m, c).pdf(free) for w, m, c in zip(prior.weights, prior.means, prior.covariances))
    )
    np.testing.assert_allclose(prior.log_prob(x), expected, rtol=1e-8)
    far = x.copy()
    far[:, prior.angle_index] += 1.0  # a radian off on every free angle: far less likely
    assert np.all(prior.log_prob(far) < prior.log_prob(x) - 10)


def test_log_prob_sums_overlapping_components():
    """Where two components overlap, both count: between two nearby components the mixture's density is the
    sum of theirs (a max over components falls short of it)."""
    from scipy.stats import multivariate_normal

    index = np.array([3, 4])
    means = np.array([[0.0, 0.0], [0.2, 0.0]])
    covs = np.stack([np.diag([0.01, 0.02]), np.diag([0.015, 0.02])])
    weights = np.array([0.4, 0.6])
    prior = PosePrior(index, weights, means, covs)
    x = np.zeros((3, 41))
    x[:, index] = [[0.1, 0.0], [0.05, 0.1], [0.12, -0.05]]
    expected = np.log(sum(w * multivariate_normal(m, c).pdf(x[:, index]) for w, m, c in zip(weights, means, covs)))
    np.testing.assert_allclose(prior.log_prob(x), expected, rtol=1e-10)
    biggest = np.max(
        [np.log(w) + multivariate_normal(m, c).logpdf(x[:, index]) for w, m, c in zip(weights, means, covs)], 0
    )
    assert np.all(prior.log_prob(x) - biggest > 0.1)  # the components overlap here: the sum is well above the larger
