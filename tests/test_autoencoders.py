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


# --- defaults, values, the diagram and messages pinned one by one -----------------------------


def test_the_autoencoders_layers_by_default():
    model = ConvAutoencoder()
    assert model.latent == 10
    assert layer_sizes(model) == [
        (1, 8, 8), (16, 8, 8), (32, 4, 4), (10,), (512,), (16, 8, 8), (1, 8, 8)
    ]  # fmt: skip
    conv = model.encoder[2]
    assert conv.stride == (2, 2) and conv.padding == (1, 1) and conv.kernel_size == (3, 3)
    up = model.decoder[3]
    assert up.stride == (2, 2) and up.kernel_size == (4, 4) and up.padding == (1, 1)
    assert isinstance(model.decoder[-1], nn.Sigmoid)
    assert isinstance(model.encoder[1], nn.ReLU) and isinstance(model.decoder[1], nn.ReLU)
    for bad in (0, 2.0):
        with pytest.raises(
            ValueError,
            match=f"^latent must be a positive integer \\(the code size\\); got {bad!r}.$",
        ):
            ConvAutoencoder(latent=bad)
    state = torch.get_rng_state()
    a, b = ConvAutoencoder(seed=2), ConvAutoencoder(seed=2)
    assert torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    assert torch.equal(torch.get_rng_state(), state)


def test_codes_reconstructions_and_errors_by_hand():
    model = ConvAutoencoder(latent=3, width=2, seed=0).eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        codes = model.encoder(x)
        rebuilt = model.decoder(codes)
    torch.testing.assert_close(encode(model, x), codes)
    torch.testing.assert_close(model.decode(codes), rebuilt)
    torch.testing.assert_close(reconstruction_error(model, x), (rebuilt - x).pow(2).mean((1, 2, 3)))
    with pytest.raises(ValueError, match=r"^codes must have shape \(N, 3\); got \(2, 4\).$"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"^codes must have shape \(N, 3\); got \(3,\).$"):
        model.decode(torch.zeros(3))
    with pytest.raises(
        ValueError, match=r"^x must have shape \(N, 1, 8, 8\); got \(2, 1, 8, 6\).$"
    ):
        encode(model, x[..., :6])
    with pytest.raises(ValueError, match=r"^x must be a batch of shape \(B, 1, H, W\)"):
        encode(model, x.expand(2, 3, 8, 8))


def test_interpolation_by_hand():
    model = ConvAutoencoder(latent=3, width=2, seed=0).eval()
    a = torch.zeros(1, 1, 8, 8)
    b = torch.ones(1, 1, 8, 8)
    decoded, fade = interpolate(model, a, b, steps=3)
    assert decoded.shape == fade.shape == (3, 1, 8, 8)
    torch.testing.assert_close(fade[:, 0, 0, 0], torch.tensor([0.0, 0.5, 1.0]))
    with torch.no_grad():
        za, zb = model.encoder(a), model.encoder(b)
        torch.testing.assert_close(decoded[1:2], model.decoder((za + zb) / 2))
    assert interpolate(model, a, b)[0].shape[0] == 8  # eight steps by default
    with pytest.raises(ValueError, match="^steps must be at least 2 \\(the two ends\\); got 1.$"):
        interpolate(model, a, b, steps=1)
    with pytest.raises(ValueError, match=r"^b must have shape \(N, 1, 8, 8\)"):
        interpolate(model, a, b[..., :4, :4])


def test_auroc_is_scikit_learns():
    from sklearn.metrics import roc_auc_score

    neg, pos = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0.9, 0.4, 0.7])
    expected = roc_auc_score([0, 0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.9, 0.4, 0.7])
    assert auroc(neg, pos) == pytest.approx(expected)
    assert auroc(neg, pos) == pytest.approx((3 + 3.5 + 3) / 12)  # pairs won, ties one half
    with pytest.raises(
        ValueError, match="^auroc needs at least one negative and one positive score.$"
    ):
        auroc(torch.tensor([1.0]), torch.tensor([]))


def test_pca_reconstruction_is_scikit_learns():
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(2)
    train, x = torch.rand(30, 1, 8, 8, generator=g), torch.rand(4, 1, 8, 8, generator=g)
    pca = PCA(n_components=3).fit(train.flatten(1).double().numpy())
    expected = pca.inverse_transform(pca.transform(x.flatten(1).double().numpy()))
    out = pca_reconstruct(train, x, 3)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.from_numpy(expected).float().reshape(x.shape))
    errors = pca_error_vs_latent(train, x, [3])
    assert errors == [pytest.approx((out - x).pow(2).mean().item())]
    pca_reconstruct(train, x, 30)
    for bad in (0, 31, 2.0):
        with pytest.raises(
            ValueError, match=f"^components must be an integer from 1 to 30; got {bad!r}.$"
        ):
            pca_reconstruct(train, x, bad)
    with pytest.raises(
        ValueError, match=r"^sizes is empty: pass code sizes, e.g. \[2, 4, 8, 16, 32\].$"
    ):
        pca_error_vs_latent(train, x, [])
    with pytest.raises(ValueError, match=r"^x_train must have shape"):
        pca_reconstruct(train[..., :4], x, 3)


def test_path_confidence_is_the_classifiers_largest_probability_along_each_path():
    from lib.digits import predict_proba

    model = ConvAutoencoder(latent=3, width=2, seed=0).eval()
    classifier = digit_cnn(seed=0).eval()
    a = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    b = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    latent, pixel = path_confidence(classifier, model, a, b, steps=3)
    assert latent.shape == pixel.shape == (2, 3)
    walk, fade = interpolate(model, a[1:], b[1:], steps=3)
    torch.testing.assert_close(latent[1], predict_proba(classifier, walk).amax(1))
    torch.testing.assert_close(pixel[1], predict_proba(classifier, fade).amax(1))
    assert path_confidence(classifier, model, a, b)[0].shape == (2, 9)  # nine steps by default
    with pytest.raises(
        ValueError, match="^a and b must hold the same number of images; got 2 and 1.$"
    ):
        path_confidence(classifier, model, a, b[:1])


def test_the_diagrams_bars_and_labels():
    from matplotlib.patches import Polygon, Rectangle

    model = ConvAutoencoder(latent=3, width=4, seed=0)
    figure = draw_autoencoder(model, torch.rand(1, 1, 8, 8))
    ax = figure.axes[0]
    shapes = layer_sizes(model)
    counts = [math.prod(s) for s in shapes]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 7
    for k, (bar, count) in enumerate(zip(bars, counts, strict=True)):
        height = 0.25 + 0.75 * math.sqrt(count) / math.sqrt(max(counts))
        assert bar.get_height() == pytest.approx(height)
        assert bar.get_x() == pytest.approx(2.0 + 1.1 * k - 0.12)
        assert bar.get_width() == pytest.approx(0.24)
    code = bars[3].get_facecolor()
    assert code != bars[2].get_facecolor() and bars[2].get_facecolor() == bars[0].get_facecolor()
    funnels = [p for p in ax.patches if isinstance(p, Polygon) and not isinstance(p, Rectangle)]
    assert len(funnels) == 2
    left = funnels[0].get_xy()
    assert left[0][0] == pytest.approx(2.0 - 0.35) and left[1][0] == pytest.approx(2.0 + 3.3 + 0.35)
    texts = [t.get_text() for t in ax.texts]
    assert "encoder  $E$" in texts and "decoder  $D$" in texts and "$x$" in texts
    assert r"$\hat x$" in texts and "$z$\n$d$ = 3" in texts
    assert ax.get_xlim() == pytest.approx((0, 2.0 + 6.6 + 2.1))
    assert ax.get_ylim() == pytest.approx((-1.05, 0.95))
    assert not ax.axison
    images = ax.get_images()
    assert len(images) == 2 and images[0].get_clim() == (0, 1)
    plt.close(figure)
    with pytest.raises(ValueError, match=r"^image must have shape \(N, 1, 8, 8\)"):
        draw_autoencoder(model, torch.rand(1, 1, 4, 4))


def test_the_diagrams_funnels_narrow_to_the_code_and_widen_back():
    from matplotlib.patches import Polygon, Rectangle

    model = ConvAutoencoder(latent=3, width=4, seed=0)
    figure = draw_autoencoder(model, torch.rand(1, 1, 8, 8))
    ax = figure.axes[0]
    counts = [math.prod(s) for s in layer_sizes(model)]
    heights = [0.25 + 0.75 * math.sqrt(c) / math.sqrt(max(counts)) for c in counts]
    xs = [2.0 + 1.1 * k for k in range(7)]
    wide_in = max(heights[:4]) / 2 + 0.08  # the encoder, from the input to the code
    wide_out = max(heights[3:]) / 2 + 0.08  # the decoder, from the code to the output
    narrow = heights[3] / 2 + 0.08
    encoder, decoder = (
        p for p in ax.patches if isinstance(p, Polygon) and not isinstance(p, Rectangle)
    )
    expected_in = [
        (xs[0] - 0.35, -wide_in), (xs[3] + 0.35, -narrow),
        (xs[3] + 0.35, narrow), (xs[0] - 0.35, wide_in),
    ]  # fmt: skip
    expected_out = [
        (xs[3] - 0.35, -narrow), (xs[6] + 0.35, -wide_out),
        (xs[6] + 0.35, wide_out), (xs[3] - 0.35, narrow),
    ]  # fmt: skip
    torch.testing.assert_close(
        torch.tensor(encoder.get_xy()[:4]), torch.tensor(expected_in).double()
    )
    torch.testing.assert_close(
        torch.tensor(decoder.get_xy()[:4]), torch.tensor(expected_out).double()
    )
    assert encoder.get_alpha() == 0.15 and encoder.get_closed()
    assert figure.get_size_inches().tolist() == pytest.approx([10, 2.9])
    labels = [t.get_text() for t in ax.texts]
    assert "1×8×8\n= 64" in labels and "128" in labels  # the flat layer: its count alone
    plt.close(figure)


def test_training_and_the_sweep_pass_their_settings(monkeypatch):
    import lib.autoencoders as ae

    seen = []

    def fake_train(model, x, y, loss, epochs, lr, batch_size, **kw):
        seen.append({"loss": loss, "epochs": epochs, "lr": lr, "batch_size": batch_size, **kw})
        return [0.0]

    monkeypatch.setattr(ae, "train", fake_train)
    x = torch.rand(4, 1, 8, 8)
    train_autoencoder(ConvAutoencoder(latent=2, width=2), x)
    assert seen[0] == {
        "loss": nn.functional.mse_loss, "epochs": 60, "lr": 3e-3, "batch_size": 64,
        "cosine": True, "reset": True, "seed": 0,
    }  # fmt: skip
    assert ConvAutoencoder().encoder[3].__class__ is nn.ReLU  # after the strided convolution
    assert ConvAutoencoder().decoder[4].__class__ is nn.ReLU  # after the transposed one
    calls = []
    monkeypatch.setattr(
        ae, "train_autoencoder", lambda model, x, **kw: calls.append((model, kw)) or [0.0]
    )
    sweep = error_vs_latent(x, x[:2], [2, 3.0])
    assert sweep.sizes == [2, 3] and list(sweep.models) == [2, 3]
    assert [c[1] for c in calls] == [{"epochs": 60, "seed": 0}] * 2
    assert calls[0][0] is sweep.models[2] and calls[0][0].encoder[0].out_channels == 16
    assert sweep.train_error[0] == pytest.approx(
        reconstruction_error(sweep.models[2], x).mean().item()
    )
    assert sweep.test_error[1] == pytest.approx(
        reconstruction_error(sweep.models[3], x[:2]).mean().item()
    )
    error_vs_latent(x, x, [2], epochs=3, seed=4, width=2, lr=0.5)
    assert calls[-1][1] == {"epochs": 3, "seed": 4, "lr": 0.5}
    assert calls[-1][0].encoder[0].out_channels == 2
    with pytest.raises(
        ValueError, match=r"^sizes is empty: pass code sizes, e.g. \[2, 4, 8, 16, 32\].$"
    ):
        error_vs_latent(x, x, [])


def test_layer_sizes_messages_in_full():
    with pytest.raises(
        ValueError,
        match=r"^layer_sizes reads a model with `encoder` and `decoder` nn.Sequential parts, like "
        r"ConvAutoencoder; got Linear, which has no such parts.$",
    ):
        layer_sizes(nn.Linear(64, 64))
    broken = ConvAutoencoder(latent=3, width=4)
    broken.decoder = nn.Sequential(nn.ReLU())
    with pytest.raises(
        ValueError,
        match="^ConvAutoencoder has an encoder or decoder without convolution or linear layers: "
        "there are no sizes to read.$",
    ):
        layer_sizes(broken)


def test_path_confidence_and_pca_name_their_arguments():
    model = ConvAutoencoder(latent=3, width=2, seed=0).eval()
    classifier = digit_cnn(seed=0).eval()
    good, bad = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"^a must have shape \(N, 1, 8, 8\)"):
        path_confidence(classifier, model, bad, good)
    with pytest.raises(ValueError, match=r"^b must have shape \(N, 1, 8, 8\)"):
        path_confidence(classifier, model, good, bad)
    train = torch.rand(10, 1, 8, 8)
    with pytest.raises(ValueError, match=r"^x must have shape \(N, 1, 8, 8\)"):
        pca_reconstruct(train, bad, 2)
