"""DeepDream: octave sizes, detail carried between octaves, per-octave images, tiling,
objectives (the guide image's too), bad input; the dream through the chapter's roles on
GoogLeNet and EfficientNet-Lite0 (untrained), on VGG19 and on a tiny described network."""

import pytest
import torch
from conftest import pointwise_cnn
from conftest import small_cnn as tiny_cnn

from lib import models, networks
from lib.deepdream import (
    Guide,
    Tiled,
    class_probability,
    dream,
    dream_objective,
    guide_match,
    layer_energy,
    mean_frequency,
    normalize_gradient,
    tiled_gradient,
)
from lib.multiscale import coarse_to_fine, octave_sizes
from lib.optim import make_optimizer

STEP = make_optimizer("sgd", lr=0.02)


def test_octave_sizes_scale_and_order():
    sizes = octave_sizes(300, 400, octaves=4, scale=1.4)
    assert sizes[-1] == (300, 400)
    assert len(sizes) == 4
    for small, big in zip(sizes, sizes[1:], strict=False):
        assert big[0] / small[0] == pytest.approx(1.4, rel=0.02)
        assert big[1] / small[1] == pytest.approx(1.4, rel=0.02)
    assert sizes[0] == (round(300 / 1.4**3), round(400 / 1.4**3))


def test_octave_sizes_keep_smallest_large_enough():
    sizes = octave_sizes(300, 400, octaves=6, scale=1.4, min_side=150)
    assert min(sizes[0]) >= 150
    assert len(sizes) == 3  # 300, 214, 153; the next one (109) would be too small
    with pytest.raises(ValueError, match="min_side"):
        octave_sizes(100, 100, min_side=224)
    with pytest.raises(ValueError, match="scale"):
        octave_sizes(100, 100, scale=1.0)
    with pytest.raises(ValueError, match="octaves"):
        octave_sizes(100, 100, octaves=0)


def test_coarse_to_fine_carries_only_the_detail():
    torch.manual_seed(0)
    base = torch.rand(1, 3, 64, 80)
    base[..., :8, :] = 1.0  # saturated pixels, where resampling may overshoot
    sizes = octave_sizes(64, 80, octaves=3, scale=1.4)
    seen = []

    def identity(x, index):
        seen.append(tuple(x.shape[-2:]))
        return x

    # an octave that adds nothing leaves the photo exactly as it was: no blur from resampling
    assert torch.equal(coarse_to_fine(base, sizes, identity), base)
    assert seen == sizes

    # a constant added at every octave is carried, upsampled, to the full size
    def add(x, index):
        return x + 0.05

    base = base * 0.6 + 0.2
    out = coarse_to_fine(base, sizes, add)
    assert torch.allclose(out - base, torch.full_like(base, 0.15), atol=1e-5)


def test_normalized_gradient_has_unit_mean_abs_per_image():
    grad = torch.randn(2, 3, 8, 8) * torch.tensor([1e-2, 10.0]).view(2, 1, 1, 1)
    out = normalize_gradient(grad)
    assert torch.allclose(out.abs().mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-4)


def test_tiled_gradient_equals_untiled():
    model = pointwise_cnn()
    objective = dream_objective(model, "conv2")
    images = torch.rand(1, 3, 40, 52)
    x = images.clone().requires_grad_(True)
    value = objective(x)
    (full,) = torch.autograd.grad(value, x)
    for tile, shift in [(16, (0, 0)), (20, (7, 11)), (64, (3, 5))]:
        tiled_value, tiled = tiled_gradient(objective, images, tile, shift)
        assert torch.allclose(tiled, full, atol=1e-5), (tile, shift)
        assert tiled_value == pytest.approx(value.item(), rel=1e-5)
    # a real network with 3x3 filters: a single tile is exact too
    conv = tiny_cnn()
    objective = dream_objective(conv, "relu2")
    x = images.clone().requires_grad_(True)
    (full,) = torch.autograd.grad(objective(x), x)
    _, tiled = tiled_gradient(objective, images, 64)
    assert torch.allclose(tiled, full, atol=1e-5)
    # several tiles: the gradient differs only within a receptive field of the seams
    _, tiled = tiled_gradient(objective, images, 20)
    assert torch.allclose(tiled[..., :10, :10], full[..., :10, :10], atol=1e-5)
    with pytest.raises(ValueError, match="tile"):
        tiled_gradient(objective, images, 4)


def test_dream_raises_the_layer_energy_and_keeps_range():
    model = tiny_cnn()
    torch.manual_seed(0)
    image = torch.rand(1, 3, 48, 48) * 0.5 + 0.25
    result = dream(
        model, image, layer="relu2", octaves=2, steps=6, optimizer=STEP, jitter=4, progress=False
    )
    assert result.image.shape == image.shape
    assert result.sizes == octave_sizes(48, 48, 2, 1.4)
    assert len(result.objective) == 2 and len(result.objective[0]) == 6
    assert 0 <= result.image.min() and result.image.max() <= 1
    before, after = layer_energy(model, image, "relu2"), layer_energy(model, result.image, "relu2")
    assert after.item() > 1.5 * before.item()


def test_tiled_dream_runs_and_raises_energy():
    model = tiny_cnn()
    image = torch.rand(1, 3, 40, 56) * 0.5 + 0.25
    result = dream(
        model,
        image,
        layer="relu2",
        octaves=1,
        steps=5,
        optimizer=STEP,
        jitter=0,
        tile=24,
        progress=False,
    )
    assert layer_energy(model, result.image, "relu2") > layer_energy(model, image, "relu2")


def test_guided_dreams_raise_their_target():
    model = tiny_cnn()
    image = torch.rand(1, 3, 32, 32) * 0.5 + 0.25

    def channel_sum(x, c=2):
        return -dream_objective(model, "conv2", channel=c)(x).item()

    short = dict(octaves=1, steps=8, optimizer=STEP, jitter=0, progress=False)
    out = dream(model, image, layer="conv2", channel=2, **short).image
    assert channel_sum(out) > channel_sum(image)
    logit = dream_objective(model, "logits", class_index=1)
    out = dream(model, image, layer="logits", class_index=1, **short).image
    assert logit(out).item() < logit(image).item()  # a loss: minus the logit
    guide = torch.rand(1, 3, 32, 32)
    guided = dream_objective(model, "relu2", guide=guide)
    out = dream(
        model,
        image,
        layer="relu2",
        guide=guide,
        octaves=1,
        steps=8,
        optimizer=STEP,
        jitter=0,
        progress=False,
    ).image
    assert guided(out).item() < guided(image).item()


def test_bad_input_gives_clear_errors():
    model = tiny_cnn()
    image = torch.rand(1, 3, 32, 32)
    with pytest.raises(KeyError, match="valid names"):
        dream(model, image, layer="nope", progress=False)
    with pytest.raises(ValueError, match="Channel 99 is out of range"):
        dream(model, image, layer="relu2", channel=99, octaves=1, steps=1, progress=False)
    with pytest.raises(ValueError, match="class_index"):
        dream(model, image, layer="relu2", class_index=0, progress=False)
    with pytest.raises(ValueError, match="Channel 9 is out of range.*logits"):
        dream(model, image, layer="logits", class_index=9, octaves=1, steps=1, progress=False)
    with pytest.raises(ValueError, match="at most one"):
        dream_objective(model, "relu2", channel=0, guide=image)
    with pytest.raises(ValueError, match="guide must be one image"):
        dream_objective(model, "relu2", guide=torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="steps"):
        dream(model, image, layer="relu2", steps=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        dream(model, image, layer="relu2", optimizer=make_optimizer("sgd", lr=0.0))
    with pytest.raises(ValueError, match="jitter"):
        dream(model, image, layer="relu2", jitter=-1)
    with pytest.raises(ValueError, match="batch"):
        dream(model, image[0], layer="relu2")


def test_mean_frequency_orders_fine_and_coarse_patterns():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    coarse = (torch.sin(2 * torch.pi * x / 32) * 0.5 + 0.5).expand(1, 3, 64, 64)
    fine = (torch.sin(2 * torch.pi * x / 4) * 0.5 + 0.5).expand(1, 3, 64, 64)
    assert mean_frequency(fine).item() == pytest.approx(0.25, abs=0.01)
    assert mean_frequency(coarse).item() == pytest.approx(1 / 32, abs=0.01)


def test_the_tiled_objective_gives_the_loop_the_tiled_gradient():
    model = pointwise_cnn()
    objective = dream_objective(model, "conv2")
    images = torch.rand(1, 3, 40, 52, requires_grad=True)
    (full,) = torch.autograd.grad(objective(images), images)
    shapes = []

    def spy(x):
        shapes.append(tuple(x.shape[-2:]))
        return objective(x)

    value, grad = Tiled(spy, 16).value_and_grad(images)
    assert len(shapes) == 3 * 4 and max(max(s) for s in shapes) <= 16  # tiles of at most 16 px
    assert torch.allclose(grad, full, atol=1e-5)  # exact for a pointwise network
    assert value.item() == pytest.approx(objective(images).item(), rel=1e-5)
    # a tiled dream of a pointwise network follows the untiled one step for step
    start = torch.rand(1, 3, 40, 52) * 0.5 + 0.25
    options = dict(octaves=1, steps=4, optimizer=STEP, jitter=0, progress=False)
    whole = dream(model, start, layer="conv2", **options)
    tiled = dream(model, start, layer="conv2", tile=16, **options)
    assert torch.allclose(whole.image, tiled.image, atol=1e-4)
    assert whole.objective[0] == pytest.approx(tiled.objective[0], rel=1e-4)


def test_dream_objectives_are_losses_to_minimise():
    model = tiny_cnn()
    images = torch.rand(2, 3, 32, 32)
    act = torch.nn.Sequential(*list(model.children())[:4])(images)  # relu2
    energy = dream_objective(model, "relu2")
    assert energy(images).item() == pytest.approx(-0.5 * act.pow(2).sum().item(), rel=1e-5)
    channel = dream_objective(model, "relu2", channel=3)
    assert channel(images).item() == pytest.approx(-act[:, 3].sum().item(), rel=1e-5)


def test_dream_keeps_the_image_of_every_octave():
    model = tiny_cnn()
    torch.manual_seed(0)
    image = torch.rand(1, 3, 48, 64) * 0.5 + 0.25
    result = dream(
        model, image, layer="relu2", octaves=3, steps=3, optimizer=STEP, jitter=2, progress=False
    )
    assert len(result.octaves) == len(result.sizes) == 3
    assert [tuple(x.shape[-2:]) for x in result.octaves] == result.sizes
    for small, big in zip(result.octaves, result.octaves[1:], strict=False):
        assert big.shape[-1] / small.shape[-1] == pytest.approx(1.4, rel=0.05)
    assert torch.equal(result.octaves[-1], result.image)
    # each octave's image is what that octave painted, not its starting point
    start = torch.nn.functional.interpolate(image, size=result.sizes[0], mode="bilinear")
    assert (result.octaves[0] - start).abs().mean() > 1e-3


def _relu2(model, images):
    return torch.nn.Sequential(*list(model.children())[:4])(images)


def test_guide_objective_is_the_best_match_dot_product():
    model = tiny_cnn()
    torch.manual_seed(0)
    images, guide = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 24, 40)
    objective = Guide(model, "relu2", guide)
    act = _relu2(model, images).flatten(2)  # (2, C, 256)
    g = _relu2(model, guide)[0].flatten(1)  # (C, 240)
    assert g.shape == objective.guide.shape
    # by brute force: each position takes the guide vector with the largest dot product
    dots = torch.einsum("bcp,cq->bpq", act, g)
    assert torch.equal(objective.matches(act.view(2, -1, 16, 16)), dots.argmax(dim=2))
    expected = -dots.amax(dim=2).sum(1)
    assert torch.allclose(objective.per_image(images), expected, rtol=1e-5)
    # the gradient with respect to the activation is minus the matched guide vector
    features = {(id(model), "relu2"): act.view(2, -1, 16, 16).clone().requires_grad_(True)}
    (grad,) = torch.autograd.grad(
        objective.compute(images, features).sum(), list(features.values())
    )
    best = dots.argmax(dim=2)
    assert torch.allclose(grad.flatten(2), -g[:, best].permute(1, 0, 2))
    # moving the activation toward the matched guide features lowers the loss
    moved = {key: value.detach() - 0.01 * grad for key, value in features.items()}
    assert (objective.compute(images, moved) < objective.compute(images, features)).all()
    # the measurement of the chapter is J per position
    positions = act.shape[-1]
    assert torch.allclose(guide_match(model, images, "relu2", guide), -expected / positions)


def test_guide_equal_to_the_image_matches_its_strongest_positions_to_themselves():
    model = tiny_cnn()
    torch.manual_seed(1)
    image = torch.rand(1, 3, 32, 32)
    objective = Guide(model, "relu2", image)
    act = _relu2(model, image)
    norms = act.flatten(2)[0].norm(dim=0)
    matches = objective.matches(act)[0]
    strongest = norms.argmax()
    assert matches[strongest] == strongest  # Cauchy-Schwarz: no vector beats the longest itself
    assert (norms[matches] >= norms - 1e-6).all()  # a position never matches a shorter vector
    # so the guide's J is at least the squared norm of the layer: twice the plain energy
    energy = -dream_objective(model, "relu2")(image)
    assert -objective(image) >= 2 * energy * (1 - 1e-6)


# --------------------------------------------------------------------------------------------
# The chapter's networks: the dream runs through every role the page reads


ROLES = ("dream_low", "dream", "dream_high")


def _assert_dream_raises_energy(model, layer, image, **options):
    result = dream(model, image, layer=layer, **options)
    assert result.image.shape == image.shape
    assert 0 <= result.image.min() and result.image.max() <= 1
    before = layer_energy(model, image, layer).item()
    assert layer_energy(model, result.image, layer).item() > before, layer
    return result


@pytest.fixture(scope="module", params=["googlenet", "efficientnet_lite0"])
def described(request):
    return models.load_model(request.param, pretrained=False, device="cpu")


def test_the_dream_runs_through_every_chapter_role(described):
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 80) * 0.5 + 0.25
    steps = networks.role(described, "dream_steps")
    assert isinstance(steps, int) and steps >= 1
    short = dict(octaves=2, steps=2, optimizer=make_optimizer("sgd", lr=0.02), jitter=0)
    for role in ROLES:
        layer = networks.role(described, role)
        assert layer in networks.layer_names(described), (role, layer)
        _assert_dream_raises_energy(described, layer, image, progress=False, **short)
    # the channel of the dream layer: a guided dream raises it
    layer, channel = networks.role(described, "dream"), networks.role(described, "dream_channel")
    objective = dream_objective(described, layer, channel=channel)
    out = dream(described, image, layer=layer, channel=channel, progress=False, **short).image
    assert objective(out).item() < objective(image).item()


def test_the_dream_layers_go_from_low_to_high(described):
    order = networks.layer_names(described)
    low, middle, high = (order.index(networks.role(described, role)) for role in ROLES)
    assert low < middle < high


def test_the_dream_runs_on_vgg19_and_its_guided_objectives_too():
    vgg = models.load_model("vgg19", pretrained=False, device="cpu")
    torch.manual_seed(0)
    image = torch.rand(1, 3, 48, 48) * 0.5 + 0.25
    short = dict(octaves=2, steps=2, optimizer=make_optimizer("sgd", lr=0.02), jitter=0)
    _assert_dream_raises_energy(vgg, "relu4_2", image, progress=False, **short)
    before = class_probability(vgg, image, 954).item()
    out = dream(vgg, image, layer="logits", class_index=954, progress=False, **short).image
    assert class_probability(vgg, out, 954).item() > before


def test_a_tiny_described_network_dreams_through_its_roles():
    tiny = tiny_cnn()
    roles = {"dream_low": "relu1", "dream": "relu2", "dream_high": "relu3"}
    networks.attach(tiny, networks.sequential(roles={**roles, "dream_channel": 3}))
    torch.manual_seed(0)
    image = torch.rand(1, 3, 40, 48) * 0.5 + 0.25
    for role in ROLES:
        _assert_dream_raises_energy(
            tiny,
            networks.role(tiny, role),
            image,
            octaves=2,
            steps=4,
            optimizer=STEP,
            jitter=2,
            progress=False,
        )
    with pytest.raises(KeyError, match="no role 'dream_steps'"):
        networks.role(tiny, "dream_steps")


def test_the_dream_layer_must_be_given():
    with pytest.raises(TypeError, match="layer"):
        dream(tiny_cnn(), torch.rand(1, 3, 32, 32), progress=False)
    with pytest.raises(TypeError, match="layer"):
        dream_objective(tiny_cnn())


def test_class_probability_adds_up_a_group_of_classes():
    model = tiny_cnn()
    images = torch.rand(3, 3, 32, 32)
    probabilities = torch.nn.Sequential(*list(model.children()))(images).softmax(dim=1)
    assert torch.allclose(class_probability(model, images, 2), probabilities[:, 2])
    assert torch.allclose(
        class_probability(model, images, range(1, 4)), probabilities[:, 1:4].sum(1)
    )
    assert torch.allclose(class_probability(model, images, range(5)), torch.ones(3))
    with pytest.raises(ValueError, match="Class 5 is out of range: the network has 5 classes"):
        class_probability(model, images, [0, 5])
    with pytest.raises(ValueError, match="at least one class"):
        class_probability(model, images, [])


# --- values, defaults and messages pinned one by one ----------------------------------------


def test_normalize_gradient_by_hand():
    grad = torch.tensor([[[[1.0, -3.0]]], [[[0.0, 0.0]]], [[[1e-30, -1e-30]]]])
    expected = torch.tensor([[[[0.5, -1.5]]], [[[0.0, 0.0]]], [[[1.0, -1.0]]]])
    torch.testing.assert_close(normalize_gradient(grad), expected)
    double = torch.tensor([[1e-300, -3e-300]], dtype=torch.float64)  # float64's own tiny
    torch.testing.assert_close(normalize_gradient(double), torch.tensor([[0.5, -1.5]]).double())


def test_tiles_are_near_equal_and_at_least_8_pixels():
    from lib.deepdream import _check_tile, _splits

    assert _splits(10, 4) == [(0, 3), (3, 7), (7, 10)]  # 3 tiles: 10/3 rounded
    assert _splits(5, 2) == [(0, 2), (2, 3), (3, 5)]
    assert _splits(16, 8) == [(0, 8), (8, 16)]
    assert _splits(7, 8) == [(0, 7)]
    _check_tile(8)
    for bad in (7, 8.0, None):
        with pytest.raises(
            ValueError, match=f"^tile must be an integer of at least 8 pixels; got {bad!r}.$"
        ):
            _check_tile(bad)
    with pytest.raises(ValueError, match="tile must be"):
        Tiled(dream_objective(pointwise_cnn(), "conv2"), 4)


def test_a_shifted_tiled_gradient_is_the_whole_gradient_for_a_pointwise_network():
    model = pointwise_cnn()
    objective = dream_objective(model, "conv2")
    image = torch.rand(1, 3, 20, 13, generator=torch.Generator().manual_seed(0))
    whole = image.clone().requires_grad_(True)
    value = objective(whole)
    (grad,) = torch.autograd.grad(value, whole)
    for shift in ((0, 0), (3, 5), (19, 1)):
        total, tiled = tiled_gradient(objective, image, 8, shift)
        torch.testing.assert_close(total, value.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(tiled, grad, rtol=1e-5, atol=1e-6)
    assert not tiled.requires_grad


def test_tiled_differentiates_small_images_whole():
    model = pointwise_cnn()
    objective = dream_objective(model, "conv2")
    wrapped = Tiled(objective, 16)
    image = torch.rand(1, 3, 16, 10, generator=torch.Generator().manual_seed(1)).requires_grad_(
        True
    )
    value, grad = wrapped.value_and_grad(image)
    (expected,) = torch.autograd.grad(objective(image), image)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(wrapped(image), objective(image))
    assert wrapped.tile == 16 and wrapped.objective is objective


def test_the_dreams_defaults_shape_its_octaves_and_its_steps(monkeypatch):
    import lib.deepdream as deepdream
    from lib.optim import OptimResult

    calls = []

    def fake_optimize(param, loss, steps, **kw):
        calls.append((tuple(param().shape[-2:]), steps, kw))
        image = param().detach()
        return OptimResult(image=image + 0.01, best_image=image, losses=[-1.0, -2.0])

    monkeypatch.setattr(deepdream, "optimize", fake_optimize)
    image = torch.full((1, 3, 64, 48), 0.5)
    result = dream(pointwise_cnn(), image, "conv2")
    sizes = octave_sizes(64, 48, 4, 1.4, None)
    assert result.sizes == sizes and [c[0] for c in calls] == sizes
    assert all(c[1] == 10 for c in calls)  # ten steps an octave
    kw = calls[0][2]
    assert kw["optimizer"] == "sgd" and kw["grad_fn"] is normalize_gradient
    assert kw["transform"] is not None and kw["progress"] is True
    assert kw["desc"] == f"octave 1/4 {sizes[0]}"
    assert result.objective == [[1.0, 2.0]] * 4  # minus the losses: the quantity amplified
    assert [tuple(o.shape[-2:]) for o in result.octaves] == sizes
    assert torch.equal(result.octaves[-1], result.image)
    calls.clear()
    dream(
        pointwise_cnn(),
        image,
        "conv2",
        octaves=2,
        scale=2.0,
        steps=3,
        jitter=0,
        min_side=20,
        optimizer="adam",
        progress=False,
    )
    assert [c[0] for c in calls] == octave_sizes(64, 48, 2, 2.0, 20)
    assert calls[0][1] == 3 and calls[0][2]["transform"] is None
    assert calls[0][2]["optimizer"] == "adam" and calls[0][2]["progress"] is False


def test_the_dream_refuses_bad_steps_and_jitter_in_full():
    model, image = pointwise_cnn(), torch.rand(1, 3, 16, 16)
    for bad in (0, 2.0):
        with pytest.raises(
            ValueError,
            match=f"^steps must be a positive integer \\(the original uses 10\\); got {bad!r}.$",
        ):
            dream(model, image, "conv2", steps=bad)
    with pytest.raises(
        ValueError, match="^jitter must be a non-negative integer of pixels; got 1.5.$"
    ):
        dream(model, image, "conv2", jitter=1.5)
    with pytest.raises(ValueError, match=r"^image must be a batch of shape \(B, 3, H, W\)"):
        dream(model, image[:, :1], "conv2")
    with pytest.raises(ValueError, match="^Choose at most one of channel, class_index and guide.$"):
        dream_objective(model, "conv2", channel=0, class_index=1)
    with pytest.raises(
        ValueError, match=r"^class_index needs layer='logits' \(got layer='conv2'\).$"
    ):
        dream_objective(model, "conv2", class_index=1)


def test_the_dream_objectives_by_hand():
    from lib.objectives import Channel, LayerEnergy, read

    model = pointwise_cnn()
    image = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    act = read(model, "conv2", image)[(id(model), "conv2")]
    plain = dream_objective(model, "conv2")
    assert isinstance(plain, LayerEnergy)
    channel = dream_objective(model, "conv2", channel=1)
    assert isinstance(channel, Channel)
    torch.testing.assert_close(channel.per_image(image), -act[:, 1].sum((1, 2)))
    assert isinstance(dream_objective(model, "conv2", guide=image[:1]), Guide)


def test_layer_energy_and_class_probability_by_hand():
    from conftest import small_cnn

    model = small_cnn()
    image = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        layer_energy(model, image, "relu1"), model[:2](image).pow(2).mean((1, 2, 3))
    )
    probs = model(image).softmax(1)
    torch.testing.assert_close(class_probability(model, image, 2), probs[:, 2])
    torch.testing.assert_close(class_probability(model, image, [0, 4]), probs[:, 0] + probs[:, 4])
    with pytest.raises(ValueError, match="^Give at least one class index.$"):
        class_probability(model, image, [])
    with pytest.raises(ValueError, match="^Class 5 is out of range: the network has 5 classes.$"):
        class_probability(model, image, [1, 5])
    with pytest.raises(ValueError, match="^Class -1 is out of range"):
        class_probability(model, image, -1)


def test_mean_frequency_is_numpys_power_weighted_radius():
    import numpy as np

    images = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(4))
    grey = images.mean(1).double().numpy()
    grey = grey - grey.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(grey)) ** 2
    radius = np.sqrt(np.fft.fftfreq(6)[:, None] ** 2 + np.fft.fftfreq(5)[None, :] ** 2)
    expected = (power * radius).sum((1, 2)) / power.sum((1, 2))
    torch.testing.assert_close(mean_frequency(images), torch.from_numpy(expected).float())
    torch.testing.assert_close(mean_frequency(torch.full((1, 3, 4, 4), 0.3)), torch.zeros(1))


def test_guide_match_is_j_per_position():
    model = pointwise_cnn()
    image = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    guide = torch.rand(1, 3, 2, 2, generator=torch.Generator().manual_seed(6))
    act = model(image).flatten(2)[0]  # (C, 16)
    g = model(guide).flatten(2)[0]  # (C, 4)
    best = (act.T @ g).max(1).values  # each position's best dot product
    torch.testing.assert_close(guide_match(model, image, "conv2", guide), best.mean().reshape(1))


def test_tiled_objectives_shift_their_grid_with_the_global_generator():
    model = tiny_cnn()  # 3×3 convolutions: tiles differ from the whole near their borders
    objective = dream_objective(model, "relu2")
    wrapped = Tiled(objective, 8)
    image = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(11)
    shift = (int(torch.randint(0, 8, (1,))), int(torch.randint(0, 8, (1,))))
    assert shift[0] > 0 and shift[1] > 0
    torch.manual_seed(11)
    value, grad = wrapped.value_and_grad(image.clone().requires_grad_(True))
    expected_value, expected = tiled_gradient(objective, image, 8, shift)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(value, expected_value)
    unshifted = tiled_gradient(objective, image, 8, (0, 0))[1]
    assert not torch.allclose(grad, unshifted)


def test_an_image_of_the_tiles_size_is_differentiated_whole():
    model = tiny_cnn()
    objective = dream_objective(model, "relu2")
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(8)).requires_grad_(
        True
    )
    _, grad = Tiled(objective, 16).value_and_grad(image)
    (expected,) = torch.autograd.grad(objective(image), image)
    torch.testing.assert_close(grad, expected)


def test_tiles_and_mean_frequencies_follow_the_device_and_the_contrast():
    model = pointwise_cnn().to("meta")
    objective = dream_objective(model, "conv2")
    total, grad = tiled_gradient(objective, torch.zeros(1, 3, 16, 16, device="meta"), 8)
    assert total.device.type == grad.device.type == "meta"
    assert mean_frequency(torch.zeros(1, 3, 8, 8, device="meta")).device.type == "meta"
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    faint = 0.5 + 1e-4 * (images - 0.5)  # total power far below 1
    torch.testing.assert_close(mean_frequency(faint), mean_frequency(images), rtol=1e-3, atol=0)


def test_gradients_are_normalised_per_image_over_all_channels():
    grad = torch.tensor([[[[1.0]], [[3.0]]]])  # one image, two channels: mean |g| = 2
    torch.testing.assert_close(normalize_gradient(grad), grad / 2)


def test_the_dream_jitters_32_pixels_and_passes_its_guide(monkeypatch):
    import lib.deepdream as deepdream
    from lib.optim import OptimResult

    jitters, losses = [], []
    monkeypatch.setattr(deepdream, "roll_jitter", lambda n: jitters.append(n) or (lambda x: x))

    def fake(param, loss, steps, **kw):
        losses.append(loss)
        pixels = param().detach()
        return OptimResult(image=pixels, best_image=pixels)

    monkeypatch.setattr(deepdream, "optimize", fake)
    image = torch.rand(1, 3, 16, 16)
    dream(pointwise_cnn(), image, "conv2", octaves=1)
    assert jitters == [32]
    dream(pointwise_cnn(), image, "conv2", octaves=1, guide=image)
    assert isinstance(losses[-1], Guide)
