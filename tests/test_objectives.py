"""Objectives: one convention (a loss to minimise), composition, reductions, one forward pass."""

import re
import warnings

import pytest
import torch
from conftest import small_cnn
from torch import nn

from lib import objectives
from lib.features import FeatureExtractor
from lib.objectives import AlphaNorm, Channel, LayerEnergy, Neuron, TotalVariation


def relu2(model, images):
    return FeatureExtractor(model, "relu2")(images)["relu2"]


def test_activation_objectives_are_minus_the_activation():
    model, images = small_cnn(), torch.rand(2, 3, 16, 16)
    act = relu2(model, images)
    mean = Channel(model, "relu2", [1, 4])
    assert torch.allclose(
        mean.per_image(images), -torch.stack([act[0, 1].mean(), act[1, 4].mean()])
    )
    summed = Channel(model, "relu2", 3, reduction="sum")
    assert torch.allclose(summed.per_image(images), -act[:, 3].sum((-2, -1)))
    assert summed(images).item() == pytest.approx(-act[:, 3].sum().item(), rel=1e-5)
    neuron = Neuron(model, "relu2", 2, position=(1, 5))
    assert torch.allclose(neuron.per_image(images), -act[:, 2, 1, 5])
    energy = LayerEnergy(model, "relu2")
    assert torch.allclose(energy.per_image(images), -0.5 * act.pow(2).flatten(1).sum(1))
    with pytest.raises(ValueError, match="reduction"):
        Channel(model, "relu2", 0, reduction="max")


def test_objectives_add_and_scale():
    model, images = small_cnn(), torch.rand(2, 3, 16, 16)
    a, b = Channel(model, "relu2", 0), TotalVariation()
    total = a + 3.0 * b
    assert torch.allclose(total.per_image(images), a.per_image(images) + 3 * b.per_image(images))
    assert total(images).item() == pytest.approx(total.per_image(images).sum().item(), rel=1e-6)
    assert torch.allclose((-a).per_image(images), -a.per_image(images))
    assert torch.allclose((a - a).per_image(images), torch.zeros(2))
    assert torch.allclose((2 * (a + b)).per_image(images), 2 * (a + b).per_image(images))
    per_image = torch.tensor([1.0, 10.0]) * b  # one weight per image
    assert torch.allclose(per_image.per_image(images), b.per_image(images) * torch.tensor([1, 10]))
    terms = (a + 2.0 * b + b).terms(images)  # terms with one name add up
    assert set(terms) == {"activation", "tv"}
    assert torch.allclose(terms["tv"], 3 * b.per_image(images))


def test_a_sum_runs_each_network_once(monkeypatch):
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    calls = []
    forward = FeatureExtractor.forward
    monkeypatch.setattr(
        FeatureExtractor, "forward", lambda self, x: calls.append(1) or forward(self, x)
    )
    total = (
        Channel(model, "relu1", 0)
        + Channel(model, "relu2", 1)
        + LayerEnergy(model, "conv3")
        + AlphaNorm()
    )
    total(images)
    assert len(calls) == 1
    separate = sum(
        term(images) for term in (Channel(model, "relu1", 0), Channel(model, "relu2", 1))
    )
    assert len(calls) == 3
    assert separate.item() == pytest.approx(
        (Channel(model, "relu1", 0) + Channel(model, "relu2", 1))(images).item(), rel=1e-6
    )


def test_mixed_precision_runs_the_network_in_bfloat16():
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    exact = LayerEnergy(model, "relu2")
    mixed = exact.with_mixed_precision()
    assert mixed(images).dtype == torch.float32
    assert mixed(images).item() != exact(images).item()
    assert mixed(images).item() == pytest.approx(exact(images).item(), rel=0.05)


def test_clear_errors():
    model = small_cnn()
    with pytest.raises(KeyError, match="valid names"):
        Channel(model, "conv9", 0)
    with pytest.raises(ValueError, match="2 weights for 3 images"):
        (torch.tensor([1.0, 2.0]) * TotalVariation()).per_image(torch.rand(3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        AlphaNorm().per_image(torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError):
        Channel(model, "relu2", 0) + 1.0
    assert objectives.REDUCTIONS == ("mean", "sum")


# --------------------------------------------------------------------------------------------
# Values pinned by hand or by torch's own functions, not only relations between objectives


def test_alpha_norm_by_hand_with_imagenet_mean_and_default_alpha_six():
    assert AlphaNorm().alpha == 6.0
    images = torch.zeros(2, 3, 2, 2)
    images[1] = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)  # the mean colour: zero
    images[1, 0, 0, 0] = 0.485 + 0.5  # one pixel of one channel off by 0.5
    # black: mean over channels of mu_c^6; the mean colour with one pixel 0.5 away: 0.5^6 / 12
    expected = torch.tensor([(0.485**6 + 0.456**6 + 0.406**6) / 3, 0.5**6 / 12])
    assert torch.allclose(AlphaNorm().per_image(images), expected, rtol=1e-5, atol=1e-9)
    assert torch.allclose(AlphaNorm(2).per_image(images[1:]), torch.tensor([0.25 / 12]))
    with pytest.raises(ValueError, match=r"^alpha must be at least 1; got 0.5\.$"):
        AlphaNorm(0.5)
    assert AlphaNorm(1).alpha == 1  # 1 is allowed


def test_total_variation_by_hand():
    assert TotalVariation().beta == 2.0
    image = torch.zeros(1, 3, 2, 2)
    image[0, 0, 0, 1] = 0.5  # one bright pixel in the top-right corner of the red channel
    # forward differences: (0,0) has dw = 0.5, (0,1) has dh = -0.5; the other ten are zero
    assert TotalVariation().per_image(image).item() == pytest.approx(2 * 0.25 / 12)
    # beta = 1: the smoothed square root, sqrt(0.25 + 1e-12) twice and sqrt(1e-12) ten times
    assert TotalVariation(1).per_image(image).item() == pytest.approx(
        (2 * (0.25 + 1e-12) ** 0.5 + 10 * 1e-6) / 12, rel=1e-6
    )
    assert TotalVariation(3).per_image(image).item() == pytest.approx(2 * 0.125 / 12, rel=1e-5)
    # a vertical step and a horizontal one: each difference lies along its own axis
    rows = torch.zeros(1, 3, 3, 3)
    rows[..., 2, :] = 1.0  # bottom row white: dh = 1 at the three pixels of the middle row
    cols = rows.transpose(-1, -2).contiguous()
    for image in (rows, cols):
        assert TotalVariation().per_image(image).item() == pytest.approx(9 / 27)
    assert TotalVariation().per_image(torch.full((1, 3, 4, 4), 0.7)).item() == 0
    with pytest.raises(ValueError, match=r"^beta must be at least 1; got 0.5\.$"):
        TotalVariation(0.5)
    assert TotalVariation(1).beta == 1  # 1 is allowed
    # beta < 2 keeps a gradient at a flat image (the square root is smoothed)
    flat = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    TotalVariation(1)(flat).backward()
    assert torch.isfinite(flat.grad).all()


def test_feature_match_is_the_normalised_squared_error_of_the_layer():
    model = small_cnn()
    target, images = torch.rand(1, 3, 16, 16), torch.rand(2, 3, 16, 16)
    reference = model[:4](target)  # relu2 by slicing the network: independent of the hooks
    acts = model[:4](images)
    expected = ((acts - reference) ** 2).sum((1, 2, 3)) / (reference**2).sum()
    match = objectives.FeatureMatch(model, "relu2", target)
    assert match.name == "feature"
    assert torch.allclose(match.per_image(images), expected, rtol=1e-5)
    assert match.per_image(target).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.equal(match.target, reference)
    # on the logits (a 2-D layer) the sum runs over the one remaining dimension
    logits = objectives.FeatureMatch(model, "logits", target)
    expected = ((model(images) - model(target)) ** 2).sum(1) / (model(target) ** 2).sum()
    assert torch.allclose(logits.per_image(images), expected, rtol=1e-5)


def test_feature_match_refuses_an_empty_representation_and_a_batch():
    model = small_cnn()
    dead = small_cnn()
    with torch.no_grad():
        dead.conv3.bias.fill_(-100.0)  # every unit of relu3 below zero
    message = (
        "The image's representation at 'relu3' is all zeros: there is nothing to match. "
        "Choose another layer or image."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        objectives.FeatureMatch(dead, "relu3", torch.rand(1, 3, 16, 16))
    message = "target must be one image at a time, (1, 3, H, W); got (2, 3, 16, 16)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        objectives.FeatureMatch(model, "relu2", torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"target must be a batch of shape \(B, 3, H, W\)"):
        objectives.FeatureMatch(model, "relu2", torch.rand(1, 1, 16, 16))


def test_read_gives_activations_without_gradients_keyed_like_objectives():
    model = small_cnn()
    images = torch.rand(1, 3, 16, 16, requires_grad=True)
    found = objectives.read(model, ["relu1", "conv3"], images)
    assert list(found) == [(id(model), "relu1"), (id(model), "conv3")]
    assert torch.equal(found[(id(model), "conv3")], model[:5](images))
    assert not found[(id(model), "conv3")].requires_grad
    (only,) = objectives.read(model, "relu2", images).values()  # one name as a string
    assert torch.equal(only, model[:4](images))


def test_channel_defaults_mean_and_logits_and_the_centre_neuron():
    model, images = small_cnn(), torch.rand(3, 3, 16, 16)
    act = model[:4](images)  # relu2: (3, 8, 8, 8)
    channel = Channel(model, "relu2", 5)
    assert channel.reduction == "mean" and channel.name == "activation"
    assert torch.allclose(channel.per_image(images), -act[:, 5].mean((1, 2)))
    assert torch.allclose(channel.activations(images), act[:, 5].mean((1, 2)))  # higher: stronger
    logit = Channel(model, "logits", [0, 4, 2])  # one class per image, on a 2-D layer
    assert torch.allclose(logit.per_image(images), -model(images)[[0, 1, 2], [0, 4, 2]])
    summed = Channel(model, "logits", 1, reduction="sum")  # no positions to reduce
    assert torch.allclose(summed.per_image(images), -model(images)[:, 1])
    centre = Neuron(model, "relu2", [1, 2, 3])  # 8×8 maps: the centre is (4, 4)
    assert torch.allclose(centre.per_image(images), -act[[0, 1, 2], [1, 2, 3], 4, 4])
    corner = Neuron(model, "relu2", 0, position=(7, 0))
    assert torch.allclose(corner.per_image(images), -act[:, 0, 7, 0])
    for position in ((0, 0), (0, 7)):  # every edge position is inside
        neuron = Neuron(model, "relu2", 0, position=position)
        assert torch.allclose(neuron.per_image(images), -act[:, 0, position[0], position[1]])
    on_logits = Neuron(model, "logits", 3)
    assert torch.allclose(on_logits.per_image(images), -model(images)[:, 3])
    assert LayerEnergy(model, "relu2").name == "energy"


def test_channel_and_neuron_errors_name_the_culprit():
    model, images = small_cnn(), torch.rand(2, 3, 16, 16)
    # relu1: 8 channels of 16×16 maps (the channel count is the second dimension)
    message = "Channel 8 is out of range for layer 'relu1', which has 8 channels (valid: 0 to 7)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Channel(model, "relu1", [0, 8]).per_image(images)
    assert Channel(model, "relu1", [0, 7]).per_image(images).shape == (2,)  # 7 is the last
    message = "3 channel indices for a batch of 2 images: give one index, or one per image."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Channel(model, "relu2", [0, 1, 2]).per_image(images)
    for bad in (-1, True, 1.0):
        with pytest.raises(ValueError, match=r"^Channel indices must be non-negative integers"):
            Channel(model, "relu2", [bad])
    assert Channel(model, "relu2", 0).channels == [0]  # 0 is a valid index
    with pytest.raises(ValueError, match=r"^Give at least one channel index\.$"):
        Channel(model, "relu2", [])
    message = "Unknown reduction 'max'; use one of ('mean', 'sum')."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Channel(model, "relu2", 0, reduction="max")
    for position in ((8, 0), (0, 8), (-1, 0), (0, -1)):
        message = (
            f"Position {position} is outside the 8×8 maps of layer 'relu2' at this image size."
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            Neuron(model, "relu2", 0, position=position).per_image(images)
    with pytest.raises(KeyError, match="conv9"):
        Neuron(model, "conv9", 0)
    with pytest.raises(KeyError, match="conv9"):
        LayerEnergy(model, "conv9")


def test_weights_one_per_image_or_one_for_all():
    images = torch.rand(2, 3, 8, 8)
    tv = TotalVariation()
    one = torch.tensor([3.0]) * tv  # a one-element tensor weighs every image
    assert torch.allclose(one.per_image(images), 3 * tv.per_image(images))
    message = "2 weights for 3 images."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        (torch.tensor([1.0, 2.0]) * tv).per_image(torch.rand(3, 3, 8, 8))
    assert torch.allclose((tv * 2.0).per_image(images), 2 * tv.per_image(images))  # w on the right
    nested = 2.0 * (3.0 * tv + AlphaNorm())  # weights multiply through
    assert torch.allclose(
        nested.per_image(images), 6 * tv.per_image(images) + 2 * AlphaNorm().per_image(images)
    )
    with pytest.raises(TypeError):
        tv * tv


def test_mixed_precision_is_kept_by_sums_and_refused_where_it_cannot_run():
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    plain, mixed = LayerEnergy(model, "relu2"), LayerEnergy(model, "relu2").with_mixed_precision()
    assert not plain.mixed_precision and mixed.mixed_precision
    assert (mixed + plain).mixed_precision and (plain + mixed).mixed_precision
    assert (2.0 * mixed).mixed_precision and not (plain + plain).mixed_precision
    assert not (2.0 * plain).mixed_precision and not objectives.Sum([(1.0, plain)]).mixed_precision
    seen = []
    forward = model.forward

    def spy(x):
        seen.append((x.dtype, torch.get_autocast_dtype("cpu"), torch.is_autocast_enabled("cpu")))
        seen.append(x.is_contiguous(memory_format=torch.channels_last))
        return forward(x)

    model.forward = spy
    mixed(images)
    assert seen == [(torch.float32, torch.bfloat16, True), True]
    seen.clear()
    plain(images)
    assert seen[0][2] is False
    meta = torch.zeros(1, 3, 16, 16, device="meta")
    message = "mixed precision runs on CUDA GPUs and on CPUs, not on 'meta': leave it off."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        mixed(meta)


def test_each_network_is_wrapped_once_and_rewrapped_when_the_layers_change(monkeypatch):
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    total = Channel(model, "relu1", 0) + LayerEnergy(model, "relu2")
    built = []

    class Counting(FeatureExtractor):
        def __init__(self, model, layers):
            built.append(list(layers))
            super().__init__(model, layers)

    monkeypatch.setattr(objectives, "FeatureExtractor", Counting)
    first = total(images)
    assert total(images).item() == first.item() and built == [["relu1", "relu2"]]
    total.terms(images)
    assert len(built) == 1  # the same layers: the same extractor
    total._extractors[id(model)].layers = ["relu1"]  # another set of layers: a new one
    total(images)
    assert built == [["relu1", "relu2"], ["relu1", "relu2"]]


def test_alpha_norm_and_total_variation_check_their_input():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        TotalVariation().per_image(torch.rand(1, 1, 8, 8))
    # float64 images: the mean colour in the images' own precision, not rounded to float32
    images = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    expected = (images - mean).abs().pow(6).mean((1, 2, 3))
    assert torch.allclose(AlphaNorm().per_image(images), expected, rtol=1e-12, atol=0)


def test_terms_stay_on_the_images_device():
    """The meta device stands in for a GPU: a term built on the CPU must follow its input."""

    class OnInput(objectives.Objective):
        name = "input"

        def compute(self, images, features):
            return images.flatten(1).sum(1)

    meta = torch.zeros(2, 3, 4, 4, device="meta")
    assert AlphaNorm().per_image(meta).device.type == "meta"
    assert (torch.tensor([1.0, 2.0]) * OnInput()).per_image(meta).device.type == "meta"


def test_mixed_precision_on_a_gpu_uses_bfloat16_too():
    """``_run`` on images that say they are on a CUDA GPU (a stand-in: none is needed)."""
    seen = {}

    class Images:
        device = torch.device("cuda")

        def contiguous(self, memory_format):
            seen["format"] = memory_format
            return "images"

    def extractor(images):
        seen["dtype"] = torch.get_autocast_dtype("cuda")
        return {"layer": torch.ones(1, dtype=torch.bfloat16)}

    objective = AlphaNorm().with_mixed_precision()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available": autocast only records
        found = objectives._run(extractor, Images(), objective)
    assert found["layer"].dtype == torch.float32
    assert seen == {"format": torch.channels_last, "dtype": torch.bfloat16}


def test_total_variation_takes_differences_of_neighbours_only():
    top = torch.zeros(1, 3, 4, 4)
    top[..., 0, :] = 1.0  # the top row white: only the first row of differences is 1
    left = top.transpose(-1, -2).contiguous()
    for image in (top, left):
        assert TotalVariation().per_image(image).item() == pytest.approx(12 / 48)


def test_feature_match_accepts_a_signed_representation_whose_cubes_cancel():
    model = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]]).view(2, 3, 1, 1))
    target = torch.zeros(1, 3, 4, 4)
    target[:, 0] = 1.0  # the two channels are 1 and -1: their cubes cancel exactly
    match = objectives.FeatureMatch(model, "0", target)
    assert match.per_image(target).item() == 0.0


def test_read_runs_the_images_on_the_models_device():
    model = small_cnn().to("meta")  # the meta device stands in for a GPU
    (act,) = objectives.read(model, "relu1", torch.rand(1, 3, 8, 8)).values()
    assert act.device.type == "meta" and act.shape == (1, 8, 8, 8)
