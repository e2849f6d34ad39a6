"""Style transfer: Gram matrices, losses, transfer, texture synthesis, colours, blends, the
network's roles, and the softmax smoothing of the activations."""

import math
import re

import pytest
import torch
from conftest import tiny_vgg as plain_tiny_vgg

from lib import models, networks
from lib import style as style_module
from lib.colors import match_colors, preserve_colors, rgb_to_yiq, weighted_mean, yiq_to_rgb
from lib.features import extract
from lib.objectives import Sum
from lib.optim import make_optimizer
from lib.style import (
    ContentLoss,
    StyleLoss,
    activation_entropy,
    content_loss,
    gram_matrix,
    paper_style_loss,
    smoothed,
    style_layer_loss,
    style_objective,
    style_weight_for,
    transfer,
)

LAYERS = dict(content_layer="relu2_2", style_layers=("relu1_1", "relu2_1"))
TINY_ROLES = {"content": "relu2_1", "style": ["relu1_1", "relu2_2"], "alpha_beta": 1e-2}


def tiny_vgg(seed: int = 0):
    """The tests' two-block VGG, described with the chapter's roles."""
    return networks.attach(plain_tiny_vgg(seed), networks.sequential(roles=TINY_ROLES))


def test_gram_is_symmetric_and_positive_semidefinite():
    features = torch.randn(2, 6, 7, 9)
    gram = gram_matrix(features)
    assert gram.shape == (2, 6, 6)
    assert torch.allclose(gram, gram.transpose(1, 2), atol=1e-6)
    assert torch.linalg.eigvalsh(gram).min() > -1e-5


def test_gram_ignores_where_things_are():
    features = torch.randn(1, 5, 8, 8)
    shuffled = features.flatten(2)[:, :, torch.randperm(64)].reshape(1, 5, 8, 8)
    assert torch.allclose(gram_matrix(features), gram_matrix(shuffled), atol=1e-5)


def test_gram_is_independent_of_size_under_the_book_normalisation():
    features = torch.randn(1, 4, 6, 5)
    tiled = features.repeat(1, 1, 3, 2)  # the same texture on a 6x larger canvas
    assert torch.allclose(gram_matrix(features), gram_matrix(tiled), atol=1e-5)
    # the raw sums and the c*h*w normalisation say different things
    assert torch.allclose(gram_matrix(tiled, "none"), 6 * gram_matrix(features, "none"))
    assert torch.allclose(gram_matrix(features, "chw") * 4, gram_matrix(features))


def test_book_style_loss_is_four_times_the_papers():
    a, b = torch.randn(1, 6, 5, 7), torch.randn(1, 6, 5, 7)
    book = style_layer_loss(a, gram_matrix(b))
    assert book.item() == pytest.approx(4 * paper_style_loss(a, b).item(), rel=1e-4)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        gram_matrix(torch.randn(4, 5, 5))
    with pytest.raises(ValueError, match="normalization"):
        gram_matrix(torch.randn(1, 2, 3, 3), "abcd")
    with pytest.raises(ValueError, match="same size"):
        content_loss(torch.randn(1, 2, 4, 4), torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match="another layer"):
        style_layer_loss(torch.randn(1, 3, 4, 4), torch.eye(4)[None])
    with pytest.raises(ValueError, match="blend weights"):
        weighted_mean([torch.eye(2)], [0.5, 0.5])
    model, image = tiny_vgg(), torch.rand(1, 3, 16, 16)
    with pytest.raises(KeyError, match="valid names"):
        style_objective(model, image, image, content_layer="conv9_9", style_layers=["relu1_1"])
    with pytest.raises(ValueError, match="scales"):
        transfer(model, image, image, steps=2, scales=(0.5,), **LAYERS, progress=False)
    with pytest.raises(ValueError, match="positive integer"):
        transfer(model, image, image, steps=0, **LAYERS, progress=False)
    with pytest.raises(ValueError, match="size"):
        transfer(model, None, image, steps=2, **LAYERS, progress=False)
    with pytest.raises(ValueError, match="init"):
        transfer(model, image, image, steps=2, init="zeros", **LAYERS, progress=False)


def test_content_loss_is_zero_at_the_content_image():
    model = tiny_vgg()
    content, style = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    objective = style_objective(model, content, style, **LAYERS)
    terms = objective.terms(content)
    assert terms["content"].item() == 0
    assert terms["style"].item() > 0
    assert objective.terms(style)["style"].item() == pytest.approx(0, abs=1e-8)
    assert objective(style).item() == pytest.approx(objective.terms(style)["content"].item())


def test_short_transfer_lowers_the_loss_and_records_history():
    model = tiny_vgg()
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 40, 40) ** 3
    result = transfer(model, content, style, steps=15, **LAYERS, progress=False)
    assert result.image.shape == content.shape
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert len(result.losses) == 15 and len(result.history) == 15
    assert result.losses[-1] < 0.5 * result.losses[0]
    times = [e.seconds for e in result.history]
    assert times == sorted(times)


def test_coarse_to_fine_runs_each_level():
    model = tiny_vgg()
    content, style = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 32)
    result = transfer(
        model, content, style, steps=[6, 4], scales=(0.5, 1.0), **LAYERS, progress=False
    )
    assert result.sizes == [(16, 24), (32, 48)]
    assert [e.level for e in result.history] == [0] * 6 + [1] * 4
    assert len(result.losses) == 4
    assert result.image.shape == content.shape


def test_texture_synthesis_matches_the_style_statistics():
    model = tiny_vgg()
    style = torch.rand(1, 3, 24, 24) ** 2
    generator = torch.Generator().manual_seed(0)
    result = transfer(
        model,
        None,
        style,
        steps=25,
        size=(24, 24),
        style_weight=1.0,
        generator=generator,
        **LAYERS,
        progress=False,
    )
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert set(result.terms) == {"style"}  # no content term
    assert result.terms["style"] == pytest.approx(result.best.total, rel=1e-4)


def test_colour_preservation_keeps_the_content_chrominance():
    torch.manual_seed(0)
    content = 0.3 + 0.4 * torch.rand(1, 3, 16, 16)
    stylized = 0.3 + 0.4 * torch.rand(1, 3, 16, 16)
    out = preserve_colors(content, stylized)
    assert torch.allclose(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5)
    assert torch.allclose(rgb_to_yiq(out)[:, :1], rgb_to_yiq(stylized)[:, :1], atol=1e-5)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(content)), content, atol=1e-5)


def test_blend_weights_interpolate_between_styles():
    a, b = torch.eye(3)[None], 3 * torch.ones(1, 3, 3)
    assert torch.allclose(weighted_mean([a, b], [1, 0]), a)
    assert torch.allclose(weighted_mean([a, b], [2, 2]), (a + b) / 2)
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16)
    s1, s2 = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) ** 4
    only_first = style_objective(model, content, [s1, s2], blend=[1, 0], **LAYERS)
    # the first style's own Grams make the style loss vanish when all the weight is on it
    assert only_first.terms(s1)["style"].item() == pytest.approx(0, abs=1e-8)
    assert only_first.terms(s2)["style"].item() > 0


def test_stop_below_ends_the_run_at_the_target():
    model = tiny_vgg()
    content, style = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24) ** 3
    full = transfer(model, content, style, steps=20, **LAYERS, progress=False)
    target = full.losses[10]
    stopped = transfer(model, content, style, steps=20, stop_below=target, **LAYERS, progress=False)
    assert stopped.losses[-1] <= target
    assert len(stopped.losses) <= 11
    assert all(loss > target for loss in stopped.losses[:-1])  # it stopped at the first one


def _colour_stats(images):
    flat = images.transpose(0, 1).reshape(3, -1)
    return flat.mean(1), torch.cov(flat, correction=0)


def test_matched_colours_have_the_style_mean_and_covariance():
    torch.manual_seed(0)
    # mid-range images, so that the clamp to [0, 1] changes (almost) nothing
    content = 0.4 + 0.2 * torch.rand(1, 3, 32, 32)
    mix = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.5, 0.2], [0.0, 0.2, 0.4]])
    style = 0.2 + torch.einsum("ij,bjhw->bihw", mix, 0.5 * torch.rand(1, 3, 20, 28))
    out = match_colors(content, style)
    assert out.shape == content.shape
    mean, cov = _colour_stats(out)
    style_mean, style_cov = _colour_stats(style)
    assert torch.allclose(mean, style_mean, atol=2e-3)
    assert torch.allclose(cov, style_cov, atol=2e-4)
    # a blend of two references: the statistics of their pooled pixels
    other = 0.5 + 0.2 * torch.rand(1, 3, 20, 28)
    pooled = torch.cat([style, other], dim=-1)
    mean, cov = _colour_stats(match_colors(content, [style, other], [1, 1]))
    assert torch.allclose(mean, _colour_stats(pooled)[0], atol=2e-3)
    assert torch.allclose(cov, _colour_stats(pooled)[1], atol=2e-4)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        match_colors(content[:, :1], style)


def test_matched_start_begins_closer_to_the_style():
    model = tiny_vgg()
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 24, 24), 0.6 * torch.rand(1, 3, 24, 24) ** 2
    plain = transfer(model, content, style, steps=1, **LAYERS, progress=False)
    matched = transfer(model, content, style, steps=1, init="matched", **LAYERS, progress=False)
    first = {
        name: style_objective(model, content, style, **LAYERS).terms(image)["style"].item()
        for name, image in (("plain", content), ("matched", match_colors(content, style)))
    }
    assert matched.history[0].total < plain.history[0].total
    assert first["matched"] < 0.5 * first["plain"]
    with pytest.raises(ValueError, match="matched"):
        transfer(model, None, style, steps=1, size=(8, 8), init="matched", **LAYERS)


def _first_images(monkeypatch, **kwargs):
    """The start of each level of a ``transfer`` run."""
    starts = []
    optimize = style_module.optimize

    def spy(image, *args, **options):
        starts.append(image().detach().clone())
        return optimize(image, *args, **options)

    monkeypatch.setattr(style_module, "optimize", spy)
    transfer(**kwargs)
    return starts


def test_coarse_to_fine_adds_only_a_smooth_change_to_the_fine_start(monkeypatch):
    model = tiny_vgg()
    torch.manual_seed(0)
    content, style = 0.25 + 0.5 * torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32) ** 3
    _, start = _first_images(
        monkeypatch,
        model=model,
        content=content,
        style=style,
        steps=[8, 1],
        scales=(0.5, 1.0),
        **LAYERS,
        progress=False,
    )
    # the full-size level starts from the content plus the coarse level's change, upsampled:
    # the content's pixel-level detail survives (upsampling the coarse image would blur it)
    change = start - content
    assert change.abs().mean() > 1e-3
    smooth = torch.nn.functional.interpolate(
        torch.nn.functional.avg_pool2d(change, 2), size=(32, 32), mode="bilinear"
    )
    assert (change - smooth).abs().mean() < 0.25 * change.abs().mean()


def test_pixels_stay_in_the_box_at_every_evaluation(monkeypatch):
    model = tiny_vgg()
    content, style = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    seen = []
    per_image = Sum.per_image

    def spy(self, images):
        if images.requires_grad:  # the loop's evaluations, not the scale's measure
            seen.append((images.min().item(), images.max().item()))
        return per_image(self, images)

    monkeypatch.setattr(Sum, "per_image", spy)
    optimizer = make_optimizer("lbfgs", lr=5.0)
    transfer(model, content, style, steps=12, optimizer=optimizer, **LAYERS, progress=False)
    assert len(seen) == 12
    assert all(0 <= low and high <= 1 for low, high in seen)


def test_transfer_returns_the_best_image_evaluated():
    # a long step makes L-BFGS overshoot, so the last evaluation is not the best one
    model = tiny_vgg()
    torch.manual_seed(1)
    content, style = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) ** 3
    optimizer = make_optimizer("lbfgs", lr=20.0)
    result = transfer(
        model, content, style, steps=20, optimizer=optimizer, **LAYERS, progress=False
    )
    assert min(result.losses) < result.losses[-1]
    objective = style_objective(model, content, style, **LAYERS)
    assert result.best.total == min(result.losses)
    assert objective(result.image).item() == pytest.approx(result.best.total, rel=1e-5)


def test_mixed_precision_computes_nearly_the_same_loss_and_transfers():
    model = tiny_vgg()
    torch.manual_seed(2)
    content, style = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24) ** 3
    exact = style_objective(model, content, style, **LAYERS)
    mixed = style_objective(model, content, style, mixed_precision=True, **LAYERS)
    image = torch.rand(1, 3, 24, 24)
    assert mixed(image).item() == pytest.approx(exact(image).item(), rel=0.05)
    assert mixed(image).item() != exact(image).item()  # the network did run in bfloat16
    assert mixed(image).dtype == torch.float32
    result = transfer(
        model, content, style, steps=15, mixed_precision=True, **LAYERS, progress=False
    )
    assert result.best.total < 0.5 * result.losses[0]
    assert result.image.dtype == torch.float32
    assert 0 <= result.image.min() and result.image.max() <= 1


# --------------------------------------------------------------------------------------------
# The network's roles


@pytest.mark.parametrize("name", ["vgg19", "vgg16", "efficientnet_lite0"])
def test_the_losses_read_each_networks_roles(name):
    model = models.load_model(name, pretrained=False, device="cpu")
    roles = networks.describe(model).roles
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    objective = style_objective(model, content, style)
    (content_weight, content_term), (style_weight, style_term) = objective.parts()
    assert content_term.layers == (roles["content"],)
    assert style_term.layers == tuple(roles["style"])
    assert content_weight / style_weight == pytest.approx(roles["alpha_beta"])
    terms = objective.terms(content)
    assert terms["content"].item() == 0 and terms["style"].item() > 0
    result = transfer(model, content, style, steps=3, progress=False)
    assert result.best.total < result.losses[0]
    assert 0 <= result.image.min() and result.image.max() <= 1


def test_a_tiny_described_network_gets_its_layers_and_ratio_from_its_roles():
    model = tiny_vgg()
    assert style_weight_for(model) == pytest.approx(100)
    assert style_weight_for(model, content_weight=3.0) == pytest.approx(300)
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24) ** 2
    by_roles = style_objective(model, content, style)
    explicit = style_objective(
        model,
        content,
        style,
        content_layer="relu2_1",
        style_layers=["relu1_1", "relu2_2"],
        style_weight=100.0,
    )
    image = torch.rand(1, 3, 24, 24)
    assert by_roles(image).item() == pytest.approx(explicit(image).item(), rel=1e-6)
    result = transfer(model, content, style, steps=10, progress=False)
    assert result.best.total < 0.5 * result.losses[0]


def test_a_network_without_the_chapters_roles_says_so():
    model, image = plain_tiny_vgg(), torch.rand(1, 3, 16, 16)
    with pytest.raises(KeyError, match="no role 'alpha_beta'"):
        style_objective(model, image, image, content_layer="relu2_2", style_layers=["relu1_1"])
    with pytest.raises(KeyError, match="no role 'content'"):
        style_objective(model, image, None)
    # with everything given, no role is needed
    objective = style_objective(model, image, image, style_weight=1.0, **LAYERS)
    assert objective(torch.rand(1, 3, 16, 16)).item() > 0


# --------------------------------------------------------------------------------------------
# Softmax smoothing (Wang, Li and Vasconcelos, 2021) and the entropy of activations


def test_smoothing_is_a_softmax_over_each_images_activations_with_mean_one():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 5)
    out = smoothed(features)
    assert out.shape == features.shape
    assert torch.allclose(out.flatten(1).mean(1), torch.ones(2))
    expected = 60 * torch.softmax(features[1].flatten(), 0)
    assert torch.allclose(out[1].flatten(), expected, atol=1e-6)
    # a softmax ignores a constant shift, and a huge temperature makes everything equal
    assert torch.allclose(smoothed(features + 3.0), out, atol=1e-5)
    assert torch.allclose(smoothed(features, temperature=1e6), torch.ones_like(out), atol=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        smoothed(features, temperature=0.0)


def test_a_softmax_turns_a_difference_into_a_ratio():
    # two activations d apart end up e^(d / T) times apart: small differences are flattened,
    # large ones sharpened
    features = torch.tensor([0.5, 1.0, 6.0, 0.0]).view(1, 4, 1, 1)
    out = smoothed(features).flatten()
    assert (out[1] / out[0]).item() == pytest.approx(math.exp(0.5), rel=1e-5)
    assert (out[1] / out[0]).item() < (features[0, 1] / features[0, 0]).item()
    assert (out[2] / out[1]).item() == pytest.approx(math.exp(5.0), rel=1e-5)
    assert (out[2] / out[1]).item() > (features[0, 2] / features[0, 1]).item()
    out = smoothed(features, temperature=2.0).flatten()
    assert (out[2] / out[1]).item() == pytest.approx(math.exp(2.5), rel=1e-5)


def test_entropy_is_one_for_equal_activations_and_zero_for_a_single_peak():
    equal = torch.full((1, 4, 3, 3), 0.7)
    peak = torch.zeros(1, 4, 3, 3)
    peak[0, 2, 1, 1] = 5.0
    assert activation_entropy(equal).item() == pytest.approx(1.0, abs=1e-6)
    assert activation_entropy(peak).item() == pytest.approx(0.0, abs=1e-6)
    both = activation_entropy(torch.cat([equal, peak]))
    assert both.shape == (2,)
    with pytest.raises(ValueError, match="non-negative"):
        activation_entropy(torch.randn(1, 2, 3, 3))


def test_smoothing_raises_the_entropy_of_small_sparse_activations_and_lowers_it_for_large_ones():
    torch.manual_seed(0)
    mask = torch.rand(1, 8, 6, 6) < 0.3
    small = 0.5 * torch.rand(1, 8, 6, 6) * mask  # sparse, differences below 1
    large = 6.0 * torch.rand(1, 8, 6, 6) * mask + 1.0  # dense, differences up to 6
    assert activation_entropy(smoothed(small)) > activation_entropy(small)
    assert activation_entropy(smoothed(large)) < activation_entropy(large)


def test_smoothed_losses_compare_smoothed_activations():
    model = tiny_vgg()
    torch.manual_seed(0)
    content, style, image = (torch.rand(1, 3, 16, 16) for _ in range(3))
    layer = ContentLoss(model, content, "relu2_2", smooth=1.0)

    def acts(images):
        return extract(model, images, ["relu1_1", "relu2_2"])

    target = smoothed(acts(content)["relu2_2"])
    assert torch.allclose(layer.target, target)
    assert layer(content).item() == pytest.approx(0, abs=1e-10)
    expected = content_loss(smoothed(acts(image)["relu2_2"]), target)
    assert layer(image).item() == pytest.approx(expected.item(), rel=1e-5)
    raw = StyleLoss(model, style, ["relu1_1"])
    smooth = StyleLoss(model, style, ["relu1_1"], smooth=2.0)
    expected = gram_matrix(smoothed(acts(style)["relu1_1"], 2.0))
    assert torch.allclose(smooth.targets["relu1_1"], expected)
    assert smooth(image).item() != pytest.approx(raw(image).item())
    result = transfer(model, content, style, steps=10, smooth=1.0, **LAYERS, progress=False)
    assert result.best.total < 0.5 * result.losses[0]


# --------------------------------------------------------------------------------------------
# Defaults, values and messages pinned one by one


def _record_optimize(monkeypatch):
    from lib.optim import OptimResult

    calls = []

    def fake(param, objective, steps, **kw):
        pixels = param().detach()
        calls.append({"start": pixels.clone(), "objective": objective, "steps": steps, **kw})
        for step in range(steps):
            kw["on_step"](step, float(steps - step))  # the scaled loss, falling
        return OptimResult(image=pixels, best_image=pixels)

    monkeypatch.setattr(style_module, "optimize", fake)
    return calls


def test_the_transfers_defaults(monkeypatch):
    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 20, 16, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    result = transfer(model, content, style)
    (call,) = calls
    assert call["steps"] == 300 and call["optimizer"] == "lbfgs"
    assert call["stop_below"] is None and call["progress"] is True
    assert call["desc"] == "level 1/1 (20, 16)"
    assert torch.equal(call["start"], content)  # starts from the content
    assert result.sizes == [(20, 16)]
    # the objective handed over is scaled so that the start's loss is 1
    torch.testing.assert_close(call["objective"](content), torch.tensor(1.0))
    # the history holds the true losses: the scaled ones times the start's loss
    # the style is resized to the content's longest side: 20 × 20
    resized = style_module.resize_to(style, (20, 20))
    unscaled = style_objective(model, content, resized)(content).item()
    assert [e.level for e in result.history] == [0] * 300
    assert result.losses[0] == pytest.approx(300 * unscaled)
    assert result.losses[-1] == pytest.approx(1 * unscaled)
    assert result.best.total == pytest.approx(unscaled)
    assert set(result.terms) == {"content", "style"}


def test_a_coarse_to_fine_transfer_has_a_level_per_scale(monkeypatch):
    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 32, 24, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    result = transfer(
        model,
        content,
        style,
        steps=[2, 3],
        scales=(0.5, 1.0),
        stop_below=0.5,
        progress=False,
        init="noise",
        generator=torch.Generator().manual_seed(2),
    )
    assert [c["steps"] for c in calls] == [2, 3]
    from lib.multiscale import scaled_sizes

    small = scaled_sizes(32, 24, [0.5, 1.0])[0]
    assert [c["desc"] for c in calls] == [f"level 1/2 {small}", "level 2/2 (32, 24)"]
    assert calls[0]["stop_below"] is None and calls[1]["stop_below"] is not None
    assert [e.level for e in result.history] == [0, 0, 1, 1, 1]
    assert len(result.final_level) == 3 and len(result.losses) == 3
    noise = torch.rand(1, 3, 32, 24, generator=torch.Generator().manual_seed(2))
    assert torch.equal(calls[0]["start"], style_module.resize_to(noise, small))


def test_the_transfers_messages_in_full():
    model, image = tiny_vgg(), torch.rand(1, 3, 16, 16)
    with pytest.raises(
        ValueError, match=r"^Texture synthesis \(content=None\) needs size=\(H, W\).$"
    ):
        transfer(model, None, image)
    with pytest.raises(ValueError, match="^2 scales but 3 step counts.$"):
        transfer(model, image, image, steps=[1, 2, 3], scales=(0.5, 1.0))
    for bad in ([0], [1.5]):
        with pytest.raises(
            ValueError, match=re.escape(f"Each level needs a positive integer of steps; got {bad}.")
        ):
            transfer(model, image, image, steps=bad)
    with pytest.raises(
        ValueError,
        match=r"^init must be one of \('content', 'matched', 'noise'\) or an image; got 'x'.$",
    ):
        transfer(model, image, image, init="x")
    with pytest.raises(
        ValueError, match=r"^init='matched' recolours the content image: give one, or use 'noise'.$"
    ):
        transfer(model, None, image, init="matched", size=(16, 16))
    with pytest.raises(ValueError, match="^style_scale must be positive; got 0.$"):
        transfer(model, image, image, style_scale=0)
    with pytest.raises(ValueError, match=r"^style must be a batch of shape \(B, 3, H, W\)"):
        transfer(model, image, image[:, :1])
    with pytest.raises(ValueError, match="^Give a content image, a style image, or both.$"):
        style_objective(model, None, None)
    with pytest.raises(ValueError, match="^content_weight and style_weight must be non-negative.$"):
        style_objective(model, image, image, content_weight=-1.0, **LAYERS)
    with pytest.raises(ValueError, match="^content_weight and style_weight must be non-negative.$"):
        style_objective(model, image, image, style_weight=-1.0, **LAYERS)


def test_the_style_image_is_sized_relative_to_the_content():
    style = torch.rand(1, 3, 30, 60)
    assert style_module._style_size(style, (40, 20), 1.0) == (20, 40)  # longest side 40
    assert style_module._style_size(style, (40, 20), 0.5) == (10, 20)
    assert style_module._style_size(torch.rand(1, 3, 9, 6), (12, 12), 1.0) == (12, 8)


def test_the_starting_images():
    content = torch.rand(1, 3, 8, 6)
    start = style_module._initial_image("content", content, (8, 6), None)
    assert torch.equal(start, content) and start is not content
    given = torch.rand(1, 3, 16, 12)
    torch.testing.assert_close(
        style_module._initial_image(given, content, (8, 6), None),
        style_module.resize_to(given, (8, 6)),
    )
    noise = style_module._initial_image("noise", content, (8, 6), torch.Generator().manual_seed(3))
    assert torch.equal(noise, torch.rand(1, 3, 8, 6, generator=torch.Generator().manual_seed(3)))


def test_style_objective_weights_and_terms_by_hand():
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    style = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    objective = style_objective(
        model, content, style, content_weight=2.0, style_weight=3.0, **LAYERS
    )
    alone_c = style_objective(model, content, None, content_layer="relu2_2")
    alone_s = style_objective(
        model, None, style, style_layers=("relu1_1", "relu2_1"), style_weight=1.0
    )
    expected = 2.0 * alone_c(image) + 3.0 * alone_s(image)
    torch.testing.assert_close(objective(image), expected)
    assert set(objective.terms(image)) == {"content", "style"}
    assert set(alone_c.terms(image)) == {"content"}
    # the style weight by default: the content weight over the network's α/β (1e-2 here)
    default = style_objective(model, content, style, content_weight=2.0, **LAYERS)
    torch.testing.assert_close(default(image), 2.0 * alone_c(image) + 200.0 * alone_s(image))
    assert style_weight_for(model) == pytest.approx(100.0)


def test_a_transfer_takes_a_list_of_styles_or_none(monkeypatch):
    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    first = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    second = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    transfer(model, content, [first, second], steps=1, blend=[1.0, 3.0])
    expected = style_objective(model, content, [first, second], blend=[1.0, 3.0])
    scale = 1 / expected(content).item()
    torch.testing.assert_close(calls[-1]["objective"](image), scale * expected(image))
    result = transfer(model, content, None, steps=1)  # the content term alone
    assert set(result.terms) == {"content"}


def test_a_transfer_passes_its_weights_and_options_to_the_objective(monkeypatch):
    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    options = dict(content_weight=2.0, style_weight=5.0, layer_weights=[0.3, 0.7], smooth=2.0)
    transfer(model, content, style, steps=1, **LAYERS, **options)
    expected = style_objective(model, content, style, **LAYERS, **options)
    scale = 1 / expected(content).item()
    torch.testing.assert_close(calls[-1]["objective"](image), scale * expected(image))
    assert not calls[-1]["objective"].mixed_precision
    transfer(model, content, style, steps=1, mixed_precision=True)
    assert calls[-1]["objective"].mixed_precision


def test_a_start_without_loss_is_not_rescaled_and_the_clock_starts_with_the_transfer(monkeypatch):
    import time

    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = time.perf_counter()
    result = transfer(model, content, content, steps=3)  # content and style: a loss of 0
    elapsed = time.perf_counter() - before
    assert [e.total for e in result.history] == [3.0, 2.0, 1.0]  # the losses as reported
    assert all(0 <= e.seconds <= elapsed for e in result.history)
    assert calls[-1]["objective"](content).item() == 0


def test_a_matched_start_uses_the_blend_of_the_styles(monkeypatch):
    from lib.colors import match_colors

    calls = _record_optimize(monkeypatch)
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = torch.rand(16, 16, generator=torch.Generator().manual_seed(1))
    blue = torch.zeros(1, 3, 16, 16)
    blue[:, 2] = torch.rand(16, 16, generator=torch.Generator().manual_seed(2))
    transfer(model, content, [red, blue], steps=1, init="matched", blend=[1.0, 3.0])
    expected = match_colors(content, [red, blue], [1.0, 3.0])
    torch.testing.assert_close(calls[-1]["start"], expected)
    assert not torch.allclose(expected, match_colors(content, [red, blue]))


def test_original_colours_give_the_result_the_contents_chrominance(monkeypatch):
    from lib.colors import preserve_colors

    _record_optimize(monkeypatch)  # the result is the start: noise
    model = tiny_vgg()
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    kept = transfer(model, content, style, steps=1, init=noise, original_colors=True)
    torch.testing.assert_close(kept.image, preserve_colors(content, noise))
    plain = transfer(model, content, style, steps=1, init=noise)
    torch.testing.assert_close(plain.image, noise)
