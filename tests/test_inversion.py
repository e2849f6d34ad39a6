"""Feature inversion on tiny networks (the objective's terms, the loop, the depth effect) and
through the inversion role of each of the book's networks."""

from collections import OrderedDict

import pytest
import torch
from conftest import deep_cnn as tiny_cnn
from torch import nn

from lib import models, networks
from lib.inversion import (
    InversionWeights,
    inversion_objective,
    invert,
    invert_layers,
    off_diagonal,
    pairwise_distances,
    paper_weights,
    pixel_error,
    ssim,
    term_history,
)
from lib.objectives import AlphaNorm, FeatureMatch, TotalVariation

ROLE = {"relu1": 1.0, "relu2": 1.0, "relu3": 10.0, "relu4": 100.0}


def described_cnn() -> nn.Sequential:
    """The tiny four-block CNN, with λ_V by depth in its role "inversion"."""
    return networks.attach(tiny_cnn(), networks.sequential(roles={"inversion": ROLE}))


def total_variation(images, beta=2.0):
    return TotalVariation(beta).per_image(images)


def alpha_norm(images, alpha=6.0):
    return AlphaNorm(alpha).per_image(images)


def target_image() -> torch.Tensor:
    """A smooth, structured 32×32 image: a few coloured blobs."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    blobs = [
        torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 0.1)
        for cx, cy in ((-0.5, -0.4), (0.4, 0.3), (0.0, 0.6))
    ]
    return torch.stack(blobs).clamp(0, 1).unsqueeze(0) * 0.8 + 0.1


def test_total_variation_of_a_constant_image_is_zero_and_grows_with_edges():
    flat = torch.full((2, 3, 8, 8), 0.4)
    assert torch.equal(total_variation(flat), torch.zeros(2))
    assert torch.equal(total_variation(flat, beta=1.5) < 1e-5, torch.ones(2, dtype=torch.bool))
    step = flat[:1].clone()
    step[..., 4:] = 0.9
    ramp = torch.linspace(0.4, 0.9, 8).expand(1, 3, 8, 8)
    assert total_variation(step) > total_variation(ramp) > 0  # β = 2 prefers gradual changes
    # β = 2 is the mean squared difference: one vertical edge of height 0.5 in 8 columns
    assert total_variation(step)[0] == pytest.approx(0.25 / 8)


def test_alpha_norm_punishes_extreme_pixels():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert alpha_norm(mean).item() == pytest.approx(0, abs=1e-12)
    assert alpha_norm(torch.ones(1, 3, 4, 4)) > 10 * alpha_norm(torch.full((1, 3, 4, 4), 0.7))


def test_feature_error_is_normalised():
    net, x0 = tiny_cnn(), target_image()
    match = FeatureMatch(net, "conv1", x0)
    assert match(x0).item() == 0
    # conv1 is linear in the image: the image without the bias's response is the zero feature
    zero = match.per_image(torch.zeros_like(x0))
    bias_only = net.conv1.bias.view(1, -1, 1, 1).expand_as(match.target)
    expected = (bias_only - match.target).pow(2).sum() / match.target.pow(2).sum()
    assert zero.item() == pytest.approx(expected.item(), rel=1e-5)
    bright = FeatureMatch(net, "conv1", x0 * 0.5)
    assert bright(x0 * 0.5).item() == 0 and bright(x0).item() > 0


def test_inversion_loss_is_zero_at_the_target_without_regularisers():
    net, x0 = described_cnn(), target_image()
    loss = inversion_objective(net, "relu3", x0, InversionWeights(lambda_alpha=0, lambda_tv=0))
    assert loss(x0).item() == pytest.approx(0, abs=1e-10)
    full = inversion_objective(net, "relu3", x0)
    terms = full.terms(x0)
    assert set(terms) == {"feature", "alpha", "tv"}
    assert terms["feature"].item() == pytest.approx(0, abs=1e-10)
    assert terms["alpha"].item() > 0 and terms["tv"].item() > 0  # the regularisers alone
    assert full(x0).item() == pytest.approx(terms["alpha"].item() + terms["tv"].item())
    assert loss(torch.rand(1, 3, 32, 32)).item() > 0.05


def test_the_terms_are_weighted_as_the_paper_says():
    net, x0 = tiny_cnn(), target_image()
    images = torch.rand(2, 3, 32, 32)
    weights = InversionWeights(lambda_alpha=2e-9, lambda_tv=3.0)
    terms = inversion_objective(net, "relu2", x0, weights, lambda_tv=[3.0, 30.0]).terms(images)
    sigma2 = 0.226**2  # the mean ImageNet pixel standard deviation, squared
    alpha = 2e-9 / 2 * 255**4 * alpha_norm(images) / sigma2
    assert torch.allclose(terms["alpha"], alpha, rtol=1e-3)
    tv = torch.tensor([3.0, 30.0]) / 2 * total_variation(images) / sigma2
    assert torch.allclose(terms["tv"], tv, rtol=1e-3)


def test_inversion_lowers_the_loss_and_approaches_the_target():
    net, x0 = described_cnn(), target_image()
    result = invert(
        net, "relu2", x0, steps=60, starts=2, generator=torch.Generator().manual_seed(0)
    )
    assert result.images.shape == (2, 3, 32, 32)
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert (result.feature_error < 0.2).all()
    start = torch.full_like(x0, 0.5)
    assert (result.pixel_error < pixel_error(start, x0)).all()
    assert (result.ssim > ssim(start, x0)).all()


def test_the_term_history_follows_the_descent_from_its_start():
    net, x0 = described_cnn(), target_image()
    result = invert(
        net,
        "relu2",
        x0,
        steps=40,
        starts=2,
        lambda_tv=[1.0, 100.0],
        snapshot_every=10,
        generator=torch.Generator().manual_seed(0),
    )
    assert [step for step, _ in result.snapshots] == [0, 10, 20, 30, 40]
    smooth = term_history(net, result, x0, start=1)
    assert set(smooth) == {"feature", "alpha", "tv"}
    assert all(len(values) == 5 for values in smooth.values())
    # step 0 is the noisy start: its total variation is the largest of the descent
    assert smooth["tv"][0] == max(smooth["tv"]) and smooth["tv"][-1] < smooth["tv"][0] / 10
    last = inversion_objective(net, "relu2", x0, lambda_tv=100.0).terms(result.images[1:])
    assert smooth["tv"][-1] == pytest.approx(last["tv"].item(), rel=1e-4)  # its own λ_V
    assert term_history(net, result, x0)["tv"][-1] < smooth["tv"][-1]
    with pytest.raises(ValueError, match="start must be"):
        term_history(net, result, x0, start=2)
    with pytest.raises(ValueError, match="no snapshots"):
        term_history(net, invert(net, "relu2", x0, steps=1), x0)


def test_a_batch_of_starts_gives_distinct_images():
    net, x0 = described_cnn(), target_image()
    result = invert(net, "relu4", x0, steps=5, starts=3, generator=torch.Generator().manual_seed(0))
    pixel, feature = pairwise_distances(net, "relu4", result.images, x0)
    assert pixel.shape == feature.shape == (3, 3)
    assert (off_diagonal(pixel) > 0).all()
    assert torch.allclose(pixel.diagonal(), torch.zeros(3), atol=1e-3)
    assert torch.allclose(pixel, pixel.T)


def test_pairwise_distances_use_the_measures_of_the_errors_from_the_target():
    net, x0 = described_cnn(), target_image()
    images = torch.cat([x0, torch.rand(2, 3, 32, 32)])
    pixel, feature = pairwise_distances(net, "relu3", images, x0)
    # the first image is x0 itself: its row holds each image's errors from x0
    assert torch.allclose(pixel[0], pixel_error(images, x0), atol=1e-4)
    error = FeatureMatch(net, "relu3", x0).per_image(images)
    assert torch.allclose(feature[0], error, rtol=1e-3, atol=1e-5)


def test_recovering_the_image_is_harder_from_deeper_layers():
    net, x0 = tiny_cnn(), target_image()
    results = invert_layers(
        net,
        ["relu1", "relu2", "relu3", "relu4"],
        x0,
        steps=80,
        starts=2,
        weights=InversionWeights(lambda_tv=1.0),
    )
    errors = [r.pixel_error.mean().item() for r in results.values()]
    similarity = [r.ssim.mean().item() for r in results.values()]
    assert errors[0] < errors[1] < errors[3]
    assert similarity[0] > similarity[1] > similarity[3]


def test_stronger_total_variation_gives_smoother_images():
    net, x0 = described_cnn(), target_image()
    result = invert(
        net,
        "relu3",
        x0,
        steps=40,
        starts=3,
        lambda_tv=[0.0, 10.0, 1000.0],
        generator=torch.Generator().manual_seed(0),
    )
    tv = total_variation(result.images)
    assert tv[0] > tv[1] > tv[2]
    assert result.lambda_tv.tolist() == [0.0, 10.0, 1000.0]


def test_paper_weights_come_from_the_networks_role():
    net = described_cnn()
    assert [paper_weights(net, layer).lambda_tv for layer in ROLE] == [1, 1, 10, 100]
    weights = paper_weights(net, "relu1")
    assert (weights.alpha, weights.beta, weights.lambda_alpha) == (6, 2, 8e-10)
    with pytest.raises(KeyError, match="no λ_V for layer 'conv2'.*relu1, relu2"):
        paper_weights(net, "conv2")  # a layer of the network, but not of its role
    with pytest.raises(KeyError, match="no role 'inversion'"):
        paper_weights(tiny_cnn(), "relu1")
    with pytest.raises(KeyError, match="no λ_V"):
        invert(net, "conv2", target_image(), steps=1)  # no silent default
    with pytest.raises(TypeError):
        InversionWeights()  # λ_V has no default either


@pytest.mark.parametrize("name", ["vgg19", "googlenet", "efficientnet_lite0"])
def test_every_layer_of_each_networks_role_inverts(name):
    model = models.load_model(name, pretrained=False, device="cpu")
    role = networks.role(model, "inversion")
    assert list(role) == [n for n in networks.layer_names(model) if n in role]  # by depth
    lambdas = list(role.values())
    assert lambdas == sorted(lambdas) and lambdas[0] < lambdas[-1]  # λ_V grows with depth
    x0 = torch.nn.functional.interpolate(target_image(), size=64, mode="bilinear")
    for layer, lambda_tv in role.items():
        result = invert(model, layer, x0, steps=2, starts=2, snapshot_every=1)
        assert result.weights.lambda_tv == lambda_tv
        assert result.images.shape == (2, 3, 64, 64)
        assert torch.isfinite(result.feature_error).all() and (result.feature_error > 0).all()
        assert [step for step, _ in result.snapshots] == [0, 1, 2]


def test_clear_errors_for_bad_requests():
    net, x0 = described_cnn(), target_image()
    with pytest.raises(KeyError, match="Unknown layer"):
        invert(net, "conv9", x0, steps=2, weights=InversionWeights(lambda_tv=1.0))
    with pytest.raises(ValueError, match="steps"):
        invert(net, "relu2", x0, steps=0)
    with pytest.raises(ValueError, match="starts"):
        invert(net, "relu2", x0, steps=2, starts=0)
    with pytest.raises(ValueError, match="one per start"):
        invert(net, "relu2", x0, steps=2, starts=2, lambda_tv=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="one image at a time"):
        invert(net, "relu2", x0.repeat(2, 1, 1, 1), steps=2)
    with pytest.raises(ValueError, match="shape"):
        invert(net, "relu2", x0[0], steps=2)
    dead = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 2, 3)), ("relu", nn.ReLU())]))
    with torch.no_grad():
        dead.conv.weight.zero_()
        dead.conv.bias.fill_(-1.0)
    with pytest.raises(ValueError, match="all zeros"):
        invert(dead, "relu", x0, steps=2, weights=InversionWeights(lambda_tv=1.0))
    with pytest.raises(ValueError, match="beta"):
        InversionWeights(lambda_tv=1.0, beta=0.5)


# --- weights, measures and messages pinned one by one ---------------------------------------


def test_the_weights_bounds_and_messages():
    InversionWeights(lambda_tv=0.0, alpha=1.0, beta=1.0, lambda_alpha=0.0)  # the edges are fine
    for alpha, beta in ((0.5, 2.0), (6.0, 0.9)):
        with pytest.raises(
            ValueError, match=f"^alpha and beta must be at least 1; got {alpha}, {beta}.$"
        ):
            InversionWeights(lambda_tv=1.0, alpha=alpha, beta=beta)
    for tv, la in ((-1.0, 0.0), (0.0, -1e-12)):
        with pytest.raises(
            ValueError, match="^The weights lambda_alpha and lambda_tv must be non-negative.$"
        ):
            InversionWeights(lambda_tv=tv, lambda_alpha=la)
    with pytest.raises(
        KeyError,
        match=r"gives no λ_V for layer 'conv2': its role 'inversion' lists relu1, relu2, relu3, "
        r"relu4\. Pass weights=InversionWeights\(lambda_tv=\.\.\.\), or add the layer to the "
        r"network's description\.",
    ):
        paper_weights(described_cnn(), "conv2")


def test_the_terms_weights_by_hand():
    import numpy as np

    net = described_cnn()
    sigma2 = float(np.mean([0.229, 0.224, 0.225])) ** 2
    objective = inversion_objective(net, "relu3", target_image())
    (w_f, feature), (w_a, alpha), (w_t, tv) = objective.parts()
    assert isinstance(feature, FeatureMatch) and w_f == 1.0
    assert isinstance(alpha, AlphaNorm) and alpha.alpha == 6.0
    assert isinstance(tv, TotalVariation) and tv.beta == 2.0
    assert float(w_a) == pytest.approx(8e-10 / 2 * 255.0**4 / sigma2)
    assert torch.as_tensor(w_t).tolist() == pytest.approx([10.0 / 2 / sigma2])
    weights = InversionWeights(lambda_tv=3.0, alpha=2.0, beta=1.0, lambda_alpha=1.0)
    parts = inversion_objective(net, "relu3", target_image(), weights, lambda_tv=[1.0, 4.0]).parts()
    assert float(parts[1][0]) == pytest.approx(0.5 * 255.0**0 / sigma2)
    assert torch.as_tensor(parts[2][0]).tolist() == pytest.approx(
        [0.5 / 255 / sigma2, 2 / 255 / sigma2]
    )
    with pytest.raises(ValueError, match="^lambda_tv must be non-negative.$"):
        inversion_objective(net, "relu3", target_image(), weights, lambda_tv=[1.0, -1.0])


def test_pixel_error_and_ssim_by_hand():
    from skimage.metrics import structural_similarity

    reference = target_image()
    images = torch.cat([reference, reference * 0 + 0.5, (reference + 0.1).clamp(0, 1)])
    expected = (images - reference).pow(2).mean((1, 2, 3)).sqrt()
    torch.testing.assert_close(pixel_error(images, reference), expected)
    assert pixel_error(reference, reference).item() == 0
    ref = reference[0].permute(1, 2, 0).numpy()
    values = [
        structural_similarity(x.permute(1, 2, 0).numpy(), ref, channel_axis=-1, data_range=1.0)
        for x in images
    ]
    torch.testing.assert_close(ssim(images, reference), torch.tensor(values))
    assert ssim(reference, reference).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"must be a batch of shape \(B, 3, H, W\)"):
        pixel_error(images[:, :1], reference)
    with pytest.raises(ValueError, match=r"must be a batch of shape \(B, 3, H, W\)"):
        ssim(images[:, :1], reference)


def test_pairwise_distances_and_off_diagonal_by_hand():
    net = described_cnn()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 16, 16, generator=g)
    target = torch.rand(1, 3, 16, 16, generator=g)
    pixel, feature = pairwise_distances(net, "relu2", images, target)
    n = 3 * 16 * 16
    assert pixel[0, 1].item() == pytest.approx(
        (images[0] - images[1]).pow(2).sum().sqrt().item() / n**0.5, rel=1e-5
    )
    feats = net[:5](images).flatten(1)
    norm = net[:5](target).pow(2).sum()
    assert feature[1, 2].item() == pytest.approx(
        ((feats[1] - feats[2]).pow(2).sum() / norm).item(), rel=1e-4
    )
    assert pixel[0, 0] == 0 and feature[2, 2] == 0
    matrix = torch.arange(9.0).reshape(3, 3)
    assert off_diagonal(matrix).tolist() == [1.0, 2.0, 5.0]


def test_term_history_and_invert_layers_refuse_bad_requests():
    net = described_cnn()
    with pytest.raises(ValueError, match="^Give at least one layer.$"):
        invert_layers(net, [], target_image(), steps=1)
    result = invert(net, "relu1", target_image(), steps=1, starts=2, snapshot_every=1)
    with pytest.raises(ValueError, match=r"^start must be one of 0\.\.1; got 2\.$"):
        term_history(net, result, target_image(), start=2)
    with pytest.raises(ValueError, match=r"^start must be one of 0\.\.1; got -1\.$"):
        term_history(net, result, target_image(), start=-1)
    result.snapshots = []
    with pytest.raises(
        ValueError, match=r"^The result has no snapshots: invert with snapshot_every=\.\.\. \.$"
    ):
        term_history(net, result, target_image())
