"""Tests for lib.autoencoders: training, errors, OOD controls, interpolation, information."""

import math

import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.text import Text
from torch import nn

from lib.autoencoders import (
    ConvAutoencoder,
    auroc,
    draw_autoencoder,
    encode,
    error_vs_latent,
    interpolate,
    layer_sizes,
    path_confidence,
    pca_error_vs_latent,
    pca_reconstruct,
    reconstruction_error,
    train_autoencoder,
)
from lib.digits import digit_cnn, letters, load_digits, shuffled_pixels, uniform_noise


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    model = ConvAutoencoder(latent=10, width=8)
    losses = train_autoencoder(model, digits.x_train, epochs=8, seed=0)
    return model, losses


def test_shapes_and_range():
    model = ConvAutoencoder(latent=3)
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == x.shape
    assert model.encode(x).shape == (5, 3)
    out = model.decode(torch.randn(2, 3) * 100)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="latent"):
        ConvAutoencoder(latent=0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.decode(torch.randn(2, 4))


def test_training_lowers_the_error_but_stays_lossy(digits, trained):
    model, losses = trained
    assert losses[-1] < 0.5 * losses[0]
    train_error = reconstruction_error(model, digits.x_train)
    assert train_error.shape == (len(digits.x_train),)
    untrained = reconstruction_error(ConvAutoencoder(latent=10, width=8), digits.x_train)
    assert train_error.mean() < 0.5 * untrained.mean()  # it learned
    assert train_error.min() > 0  # and still no training digit comes back exactly
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_out_of_distribution_inputs_reconstruct_worse(digits, trained):
    model, _ = trained
    held_out = reconstruction_error(model, digits.x_test)
    controls = {
        "shuffled": shuffled_pixels(digits.x_test, seed=0),
        "letters": letters(),
        "noise": uniform_noise(200, levels=17),
    }
    for name, x in controls.items():
        error = reconstruction_error(model, x)
        assert error.mean() > 2 * held_out.mean(), name
        assert auroc(held_out, error) > 0.8, name


def test_training_is_seeded(digits):
    x = digits.x_train[:128]
    a = train_autoencoder(ConvAutoencoder(4, width=4), x, epochs=2, seed=1)
    b = train_autoencoder(ConvAutoencoder(4, width=4), x, epochs=2, seed=1)
    assert a == b


def test_error_vs_latent_returns_one_model_per_size(digits):
    sweep = error_vs_latent(digits.x_train[:256], digits.x_test[:64], [1, 16], epochs=6, width=4)
    assert sweep.sizes == [1, 16] and set(sweep.models) == {1, 16}
    assert sweep.test_error[1] < sweep.test_error[0]  # a 16-number code beats a 1-number code
    with pytest.raises(ValueError, match="sizes is empty"):
        error_vs_latent(digits.x_train, digits.x_test, [])


def test_interpolation_ends_match_reconstructions(digits, trained):
    model, _ = trained
    a, b = digits.x_test[:1], digits.x_test[1:2]
    path, fade = interpolate(model, a, b, steps=5)
    assert path.shape == fade.shape == (5, 1, 8, 8)
    assert torch.allclose(path[0], model(a)[0], atol=1e-5)
    assert torch.allclose(path[-1], model(b)[0], atol=1e-5)
    assert torch.allclose(fade[2], (a[0] + b[0]) / 2)
    assert encode(model, digits.x_test[:7]).shape == (7, 10)
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(model, a, b, steps=1)


def test_auroc():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        auroc(torch.tensor([]), torch.tensor([1.0]))


def test_layer_sizes_follow_the_model_and_label_the_diagram():
    model = ConvAutoencoder(latent=3, width=4)
    shapes = layer_sizes(model)
    assert shapes == [(1, 8, 8), (4, 8, 8), (8, 4, 4), (3,), (128,), (4, 8, 8), (1, 8, 8)]
    assert [math.prod(s) for s in shapes] == [64, 256, 128, 3, 128, 256, 64]
    figure = draw_autoencoder(model, torch.rand(1, 1, 8, 8))
    labels = " | ".join(t.get_text() for t in figure.findobj(Text))
    plt.close(figure)
    for expected in ("1×8×8\n= 64", "4×8×8\n= 256", "8×4×4\n= 128", "$d$ = 3", "128"):
        assert expected in labels, expected
    assert "1024" not in labels  # the sizes of the default width would be a copy, not a reading
    with pytest.raises(ValueError, match="`encoder` and `decoder`"):
        layer_sizes(nn.Linear(64, 64))
    broken = ConvAutoencoder(latent=3, width=4)
    broken.decoder = nn.Sequential(nn.ReLU())
    with pytest.raises(ValueError, match="no sizes to read"):
        layer_sizes(broken)


def test_pca_is_the_linear_baseline(digits):
    x_train, x_test = digits.x_train, digits.x_test[:100]
    errors = pca_error_vs_latent(x_train, x_test, [1, 4, 16, 64])
    assert all(b <= a + 1e-9 for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 1e-10  # every direction kept: the reconstruction is exact
    rebuilt = pca_reconstruct(x_train, x_test, 4)
    assert rebuilt.shape == x_test.shape
    assert (rebuilt - x_test).pow(2).mean().item() == pytest.approx(errors[1], rel=1e-5)
    train = x_train.flatten(1).double()
    mean = train.mean(0)
    basis = torch.linalg.svd(train - mean, full_matrices=False).Vh[:4]  # top 4 directions
    by_hand = (x_test.flatten(1).double() - mean) @ basis.T @ basis + mean
    assert torch.allclose(rebuilt.flatten(1).double(), by_hand, atol=1e-4)
    with pytest.raises(ValueError, match="components"):
        pca_reconstruct(x_train, x_test, 65)
    with pytest.raises(ValueError, match="empty"):
        pca_error_vs_latent(x_train, x_test, [])


def test_path_confidence_judges_both_paths(digits, trained):
    model, _ = trained
    torch.manual_seed(0)
    judge = digit_cnn(width=4).eval()
    a, b = digits.x_test[:3], digits.x_test[3:6]
    latent, pixel = path_confidence(judge, model, a, b, steps=5)
    assert latent.shape == pixel.shape == (3, 5)
    assert ((latent > 0) & (latent <= 1)).all() and ((pixel > 0) & (pixel <= 1)).all()
    with torch.no_grad():
        ends = judge(torch.cat([a, b])).softmax(1).amax(1)
    assert torch.allclose(pixel[:, 0], ends[:3], atol=1e-6)  # the cross-fade starts at a
    assert torch.allclose(pixel[:, -1], ends[3:], atol=1e-6)  # and ends at b
    assert not torch.allclose(latent[:, 0], ends[:3])  # the latent path starts at a's decoding
    with pytest.raises(ValueError, match="same number"):
        path_confidence(judge, model, a, b[:2])


def test_a_seeded_autoencoder_is_where_training_starts(digits):
    x = digits.x_train[:64]
    state = torch.random.get_rng_state()
    start = ConvAutoencoder(4, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is untouched
    trained = ConvAutoencoder(4)
    losses = train_autoencoder(trained, x, epochs=1, lr=1e-12, batch_size=64, seed=3)
    with torch.no_grad():
        assert losses[0] == pytest.approx(nn.functional.mse_loss(start(x), x).item(), rel=1e-5)
    assert not torch.equal(start.encoder[0].weight, ConvAutoencoder(4).encoder[0].weight)
