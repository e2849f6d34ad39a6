"""Tests for lib.manifolds: fooling images, random predictions, FGSM/PGD, the 2-D toy."""

import pytest
import torch
from conftest import grey_classifier as tiny_cnn
from torch import nn

from lib.attacks import epsilon_sweep, fgsm, magnify, pgd
from lib.manifolds import (
    GaussianToy,
    check_epsilon,
    fooling_images,
    pixel_classifier,
    plane_grid,
    predict,
    random_images,
    random_predictions,
    square_photos,
    toy_mlp,
    train_toy,
)
from lib.training import train


@pytest.fixture(scope="module")
def trained():
    """A tiny classifier trained to tell three bar patterns apart (a few hundred steps)."""
    torch.manual_seed(0)
    base = torch.zeros(3, 1, 6, 6)
    base[0, 0, :, 1] = 1
    base[1, 0, 2, :] = 1
    base[2, 0].fill_diagonal_(1)
    x = (base.repeat(40, 1, 1, 1) * 0.8 + 0.2 * torch.rand(120, 1, 6, 6)).clamp(0, 1)
    y = torch.arange(3).repeat(40)
    model = tiny_cnn()
    train(model, x, y, nn.functional.cross_entropy, epochs=150, lr=1e-2)
    return model, x, y


def test_fooling_reaches_the_target_confidence(trained):
    model, _, _ = trained
    start = random_images(6, (1, 6, 6), seed=2)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    result = fooling_images(model, start, targets, threshold=0.99, max_steps=300, step_size=0.02)
    assert bool(result.reached.all())
    probs = model(result.images).softmax(1)
    assert (probs[torch.arange(6), targets] >= 0.99).all()
    assert result.images.min() >= 0 and result.images.max() <= 1
    # each image stops once it is there: the step count bounds how far it moved
    moved = (result.images - start).abs().flatten(1).amax(1)
    assert (moved <= result.steps * 0.02 + 1e-6).all()
    assert result.history[0].shape == (6,)


def test_fooling_rejects_bad_targets_and_settings(trained):
    model, _, _ = trained
    start = random_images(2, (1, 6, 6))
    with pytest.raises(ValueError, match=r"class indices in 0\.\.2"):
        fooling_images(model, start, [0, 3])
    with pytest.raises(ValueError, match="entries"):
        fooling_images(model, start, [0, 1, 2])
    with pytest.raises(ValueError, match="threshold"):
        fooling_images(model, start, 0, threshold=1.5)
    with pytest.raises(ValueError, match="max_steps"):
        fooling_images(model, start, 0, max_steps=0)
    with pytest.raises(ValueError, match="empty"):
        fooling_images(model, start[:0], 0)


def test_random_images_always_get_a_class(trained):
    model, _, _ = trained
    cls, conf = random_predictions(model, 200, (1, 6, 6), levels=17)
    assert cls.shape == conf.shape == (200,)
    assert ((cls >= 0) & (cls < 3)).all()
    assert (conf >= 1 / 3 - 1e-6).all() and (conf <= 1).all()
    x = random_images(4, (1, 6, 6), levels=17)
    assert torch.equal(x * 16, (x * 16).round())
    with pytest.raises(ValueError, match="positive"):
        random_images(0, (1, 6, 6))


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.1, 0.3])
def test_fgsm_and_pgd_stay_in_the_ball_and_the_range(trained, eps):
    model, x, y = trained
    for adv in (fgsm(model, x, y, eps), pgd(model, x, y, eps, steps=5)):
        assert adv.shape == x.shape
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1


def test_fgsm_matches_torchattacks(trained):
    torchattacks = pytest.importorskip("torchattacks")
    model, x, y = trained
    ours = fgsm(model, x, y, 0.05)
    reference = torchattacks.FGSM(model, eps=0.05)(x, y)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_attacks_hurt_and_pgd_hurts_at_least_as_much(trained):
    model, x, y = trained
    sweep = epsilon_sweep(model, x, y, [0, 0.1, 0.3], "fgsm")
    assert sweep.accuracy[0] == 1.0
    assert sweep.accuracy[-1] < sweep.accuracy[0]
    assert sweep.true_confidence[-1] < sweep.true_confidence[0]
    strong = epsilon_sweep(model, x, y, [0.3], "pgd", steps=10)
    assert strong.accuracy[0] <= sweep.accuracy[-1]
    # with labels=None the network's own predictions are the reference
    assert epsilon_sweep(model, x, None, [0]).accuracy == [1.0]


def test_bad_epsilon_and_bad_inputs_get_clear_errors(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="8/255"):
        fgsm(model, x, y, 8)
    with pytest.raises(ValueError, match="pixel units"):
        pgd(model, x, y, -0.1)
    with pytest.raises(ValueError, match="finite"):
        check_epsilon(float("nan"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, x * 4 - 2, y, 0.1)
    with pytest.raises(ValueError, match="empty"):
        fgsm(model, x[:0], y[:0], 0.1)
    with pytest.raises(ValueError, match="class indices"):
        fgsm(model, x[:2], torch.tensor([0, 7]), 0.1)
    with pytest.raises(ValueError, match="epsilons is empty"):
        epsilon_sweep(model, x, y, [])
    with pytest.raises(ValueError, match="Unknown attack"):
        epsilon_sweep(model, x, y, [0.1], "cw")


def test_pixel_classifier_reads_the_normalisation_from_the_description():
    from lib import networks

    small = tiny_cnn()
    assert pixel_classifier(small) is small  # trained on [0, 1] pixels: left as it is
    x = torch.rand(2, 3, 4, 4)
    for mean, std in [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.5,) * 3)]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
        networks.attach(model, networks.sequential(mean=mean, std=std))
        expected = model(
            (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        )
        assert torch.allclose(pixel_classifier(model)(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["googlenet", "vgg19", "efficientnet_lite0"])
def test_fooling_and_attacks_run_on_the_books_networks(name):
    """The chapter's calls on each network the book describes (untrained, tiny images): the
    classifier normalises as the network's description says, the ascent raises p(target), the
    attacks stay in the ε-ball."""
    from lib import models, networks

    model = models.load_model(name, pretrained=False, device="cpu")
    classifier = pixel_classifier(model)
    x = random_images(2, (3, 32, 32), seed=1)
    with torch.no_grad():
        assert torch.allclose(classifier(x), model(networks.normalize_input(model, x)), atol=1e-5)
    result = fooling_images(classifier, x, [1, 2], max_steps=3, step_size=8 / 255)
    assert result.images.shape == x.shape and 0 <= result.images.min() <= result.images.max() <= 1
    with torch.no_grad():
        responds = not torch.allclose(*classifier(x).softmax(1), atol=1e-6)
    if responds:  # (untrained GoogLeNet's tiny initial weights leave its output constant)
        assert (result.history[-1] > result.history[0]).all()
    labels = predict(classifier, x)[0]
    for adv in (fgsm(classifier, x, labels, 2 / 255), pgd(classifier, x, labels, 2 / 255, steps=2)):
        assert (adv - x).abs().max() <= 2 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


def test_toy_mlp_seeded_is_where_training_starts():
    x = torch.randn(20, 2)
    y = (x[:, 0] > 0).long()
    start = toy_mlp(seed=4)
    trained = toy_mlp()
    losses = train_toy(trained, x, y, steps=1, lr=1e-9, seed=4)
    assert losses[0] == pytest.approx(nn.functional.cross_entropy(start(x), y).item(), rel=1e-5)


def test_magnify_and_square_photos():
    delta = torch.tensor([[[[-0.01, 0.0], [0.005, 0.01]]]])
    m = magnify(delta)
    assert m.min() == 0 and m.max() == 1 and m[0, 0, 0, 1] == 0.5
    photos = square_photos([torch.rand(1, 3, 30, 50), torch.rand(1, 3, 60, 40)], 24)
    assert photos.shape == (2, 3, 24, 24)


def test_discriminative_confidence_is_high_where_the_density_is_not():
    toy = GaussianToy()
    x, y = toy.sample(150, seed=0)
    model = toy_mlp(hidden=16)
    train_toy(model, x, y, steps=300)
    _, _, points = plane_grid(6.0, 60)
    with torch.no_grad():
        confidence = model(points).softmax(1).amax(1)
    density = toy.density(points)
    far = density < 1e-6 * density.max()
    assert far.float().mean() > 0.3  # most of the square is far from both classes
    assert confidence[far].mean() > 0.95  # yet the classifier is sure there
    assert density[far].max() < 1e-6 * density.max()
    with torch.no_grad():
        train_acc = (model(x).argmax(1) == y).float().mean()
    assert train_acc > 0.9
    with pytest.raises(ValueError, match="limit"):
        plane_grid(0)


# --- values and messages pinned one by one -------------------------------------------------


def test_epsilon_checks_name_the_unit_and_suggest_dividing_by_255():
    from lib.manifolds import check_epsilon

    assert check_epsilon(0) == 0.0 and isinstance(check_epsilon(1), float)
    assert check_epsilon(1) == 1.0
    for bad in (True, "0.1", float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^eps must be a finite number in \[0, 1\] \(pixel"):
            check_epsilon(bad)
    with pytest.raises(
        ValueError,
        match=r"^e is in pixel units of \[0, 1\] images and must lie in \[0, 1\]; got 8\. "
        r"Did you mean 8/255 = 0\.0314\?$",
    ):
        check_epsilon(8, "e")
    with pytest.raises(ValueError, match=r"got 255\. Did you mean 255/255 = 1\.0000\?$"):
        check_epsilon(255)
    with pytest.raises(ValueError, match=r"got 256\.$"):
        check_epsilon(256)
    with pytest.raises(ValueError, match=r"got -0\.1\.$"):
        check_epsilon(-0.1)
    with pytest.raises(ValueError, match=r"got 1\.5\. Did you mean"):
        check_epsilon(1.5)


def test_labels_are_checked_against_the_batch_and_the_classes():
    from lib.manifolds import check_labels

    assert check_labels(2, 3, 4).tolist() == [2, 2, 2]  # one label for every image
    assert check_labels([[1], [0]], 2, 2).dtype == torch.long
    assert check_labels(torch.tensor([3.0]), 1, 4).tolist() == [3]
    with pytest.raises(ValueError, match="^t has 2 entries for 3 images.$"):
        check_labels([0, 1], 3, 2, "t")
    with pytest.raises(ValueError, match=r"^labels must be class indices in 0\.\.3; got 4\.$"):
        check_labels([0, 4], 2, 4)
    with pytest.raises(ValueError, match=r"got -1\.$"):
        check_labels([-1, 0], 2, 4)


def test_random_images_are_seeded_uniform_pixels_or_grey_levels():
    from lib.manifolds import random_images

    out = random_images(2, (1, 3, 4), seed=5)
    expected = torch.rand(2, 1, 3, 4, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(out, expected)
    assert torch.equal(random_images(2, (1, 3, 4)), random_images(2, (1, 3, 4), seed=0))
    levels = random_images(3, (1, 4, 4), seed=1, levels=17)
    g = torch.Generator().manual_seed(1)
    torch.testing.assert_close(levels, torch.randint(0, 17, (3, 1, 4, 4), generator=g) / 16)
    assert levels.max() <= 1 and levels.dtype == torch.float32
    with pytest.raises(ValueError, match="^n must be a positive number of images; got 0.$"):
        random_images(0, (1, 4, 4))
    with pytest.raises(ValueError, match=r"^shape is \(C, H, W\); got \(4, 4\).$"):
        random_images(1, (4, 4))


def test_random_predictions_are_the_predictions_of_random_images():
    from lib.manifolds import predict, random_images, random_predictions

    trained = tiny_cnn()
    cls, conf = random_predictions(trained, 5, (1, 6, 6), seed=2, levels=3, batch_size=2)
    want_cls, want_conf, _ = predict(trained, random_images(5, (1, 6, 6), 2, 3))
    assert torch.equal(cls, want_cls) and torch.equal(conf, want_conf)


def test_square_photos_resize_the_shorter_side_and_crop_the_centre():
    import torch.nn.functional as F

    from lib.manifolds import square_photos

    tall = torch.rand(1, 3, 12, 6, generator=torch.Generator().manual_seed(0))
    out = square_photos([tall], 4)
    resized = F.interpolate(tall, size=(8, 4), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(out, resized[..., 2:6, :].clamp(0, 1))
    wide = torch.rand(1, 3, 5, 9, generator=torch.Generator().manual_seed(1))
    both = square_photos([tall, wide], 5)
    assert both.shape == (2, 3, 5, 5)
    resized = F.interpolate(wide, size=(5, 9), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(both[1], resized[0, :, :, 2:7].clamp(0, 1))
    with pytest.raises(ValueError, match="^square_photos needs at least one image.$"):
        square_photos([], 4)


def test_the_toy_densities_are_scipys_gaussians():
    from scipy.stats import multivariate_normal

    from lib.manifolds import GaussianToy

    toy = GaussianToy()
    torch.testing.assert_close(toy.means, torch.tensor([[-1.5, -0.5], [1.5, 0.5]]))
    torch.testing.assert_close(
        toy.covs, torch.tensor([[[0.6, 0.3], [0.3, 0.5]], [[0.4, -0.2], [-0.2, 0.7]]])
    )
    points = torch.tensor([[0.0, 0.0], [-1.5, -0.5], [2.0, 1.0]])
    logs = torch.tensor(
        [
            [
                multivariate_normal(m.numpy(), c.numpy()).logpdf(p.numpy())
                for m, c in zip(toy.means, toy.covs, strict=True)
            ]
            for p in points
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(toy.log_density(points), logs)
    torch.testing.assert_close(toy.density(points), logs.exp().mean(1))
    posterior = logs.exp() / logs.exp().sum(1, keepdim=True)
    torch.testing.assert_close(toy.posterior(points), posterior)


def test_the_toy_samples_are_seeded_and_labelled_by_class():
    from lib.manifolds import GaussianToy

    toy = GaussianToy()
    x, y = toy.sample(3, seed=4)
    assert x.shape == (6, 2) and y.tolist() == [0, 0, 0, 1, 1, 1]
    again, _ = toy.sample(3, seed=4)
    assert torch.equal(x, again) and not torch.equal(x, toy.sample(3, seed=5)[0])
    assert torch.equal(toy.sample(3)[0], toy.sample(3, seed=0)[0])
    state = torch.get_rng_state()
    toy.sample(2)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone
    with pytest.raises(ValueError, match="^n_per_class must be positive; got 0.$"):
        toy.sample(0)


def test_toy_mlp_shape_and_description():
    from lib.manifolds import toy_mlp
    from lib.networks import describe

    model = toy_mlp()
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert model[0].in_features == 2 and model[0].out_features == 32
    assert model[2].out_features == 32 and model[4].out_features == 2
    assert toy_mlp(hidden=5, classes=3)[4].out_features == 3
    assert describe(model).title == "toy MLP"
    state = torch.get_rng_state()
    toy_mlp(seed=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_the_plane_grid_spans_the_square():
    from lib.manifolds import plane_grid

    xs, ys, points = plane_grid(2.0, 3)
    assert xs.tolist() == [[-2.0, 0.0, 2.0]] * 3
    assert ys.tolist() == [[-2.0] * 3, [0.0] * 3, [2.0] * 3]
    assert points[:4].tolist() == [[-2.0, -2.0], [0.0, -2.0], [2.0, -2.0], [-2.0, 0.0]]
    xs, _, points = plane_grid()
    assert xs.shape == (200, 200) and points.shape == (40000, 2)
    assert xs.min() == -6 and xs.max() == 6
    plane_grid(1.0, 2)
    for limit, n in ((0.0, 3), (1.0, 1)):
        with pytest.raises(
            ValueError, match=f"^limit must be positive and n at least 2; got {limit!r}, {n!r}.$"
        ):
            plane_grid(limit, n)


def test_random_predictions_default_to_seed_0_in_batches_of_64():
    from lib.manifolds import random_predictions

    sizes = []

    class Recorder(nn.Module):
        def forward(self, x):
            sizes.append(len(x))
            return x.flatten(1)[:, :3]

    cls, conf = random_predictions(Recorder(), 100, (1, 2, 2))
    assert sizes == [64, 36]
    again, _ = random_predictions(Recorder(), 100, (1, 2, 2), seed=0)
    assert torch.equal(cls, again)
    other, _ = random_predictions(Recorder(), 100, (1, 2, 2), seed=1)
    assert not torch.equal(cls, other)


def test_square_photos_are_clamped_to_pixels():
    from lib.manifolds import square_photos

    out = square_photos([torch.full((1, 3, 8, 12), 1.5), torch.full((1, 3, 8, 8), -0.5)], 4)
    assert torch.equal(out, torch.stack([torch.ones(3, 4, 4), torch.zeros(3, 4, 4)]))


def test_train_toy_defaults(monkeypatch):
    import lib.manifolds as manifolds

    seen = {}

    def fake(model, x, y, loss, steps, lr, **kw):
        seen.update(steps=steps, lr=lr, loss=loss, **kw)
        return [0.0]

    monkeypatch.setattr(manifolds, "train", fake)
    manifolds.train_toy(manifolds.toy_mlp(), torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))
    assert seen == {
        "steps": 500, "lr": 1e-2, "loss": nn.functional.cross_entropy, "reset": True, "seed": 0
    }  # fmt: skip


def test_the_plane_grid_gives_no_warning():
    import warnings

    from lib.manifolds import plane_grid

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plane_grid(1.0, 3)


class _Fixed(nn.Module):
    """Logits that do not depend on the image: p = (0.5, 0.5), no gradient to follow."""

    def forward(self, x):
        return torch.zeros(len(x), 2) + 0 * x.flatten(1)[:, :1]


def test_fooling_images_stop_after_200_steps_by_default_and_name_their_arguments():
    from lib.manifolds import fooling_images

    start = torch.full((1, 1, 2, 2), 0.5)
    result = fooling_images(_Fixed(), start, 0)
    assert len(result.history) == 201 and result.steps.tolist() == [200]
    assert not result.reached.any()
    assert len(fooling_images(_Fixed(), start, 0, max_steps=1).history) == 2
    for bad in (0.0, 1.0):
        with pytest.raises(
            ValueError, match=f"^threshold is a probability in \\(0, 1\\); got {bad!r}.$"
        ):
            fooling_images(_Fixed(), start, 0, threshold=bad)
    with pytest.raises(ValueError, match="^max_steps must be a positive integer; got 0.$"):
        fooling_images(_Fixed(), start, 0, max_steps=0)
    with pytest.raises(ValueError, match=r"^start must be pixels in \[0, 1\]"):
        fooling_images(_Fixed(), start + 1, 0)
    with pytest.raises(ValueError, match="^step_size must be a finite number"):
        fooling_images(_Fixed(), start, 0, step_size=float("nan"))
    with pytest.raises(ValueError, match="^step_size must be positive.$"):
        fooling_images(_Fixed(), start, 0, step_size=0)


def test_a_normalised_network_keeps_its_class_names():
    from lib.manifolds import pixel_classifier
    from lib.networks import attach, sequential

    model = tiny_cnn()
    attach(model, sequential(mean=(0.5,), std=(0.5,)))
    model.categories = ["a", "b", "c"]
    assert pixel_classifier(model).categories == ["a", "b", "c"]


def test_a_toy_needs_a_covariance_for_each_mean_and_one_sample_is_enough():
    from lib.manifolds import GaussianToy

    toy = GaussianToy(means=torch.zeros(3, 2), covs=torch.eye(2).expand(2, 2, 2))
    with pytest.raises(ValueError):
        toy.log_density(torch.zeros(1, 2))
    x, y = GaussianToy().sample(1)
    assert x.shape == (2, 2) and y.tolist() == [0, 1]


class _Ramp(nn.Module):
    """Two classes; class 0's logit is 4 × the sum of the pixels: every step of +0.1 on both
    pixels adds 0.8 to it, so the steps to the threshold can be counted by hand."""

    def forward(self, x):
        score = 4 * x.flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_fooling_images_by_hand():
    from lib.manifolds import fooling_images

    start = torch.tensor([[[[0.5, 0.5]]], [[[0.1, 0.1]]]])
    # p(0) = sigmoid(4 s): s = 1 at the start of A (p 0.982), 1.2 after one step (0.9918);
    # B needs s ≥ 1.149: five steps, from 0.2 to 1.2
    result = fooling_images(_Ramp(), start, 0, step_size=0.1)
    assert result.steps.tolist() == [1, 5] and result.reached.tolist() == [True, True]
    assert len(result.history) == 6  # p after steps 0 to 5
    torch.testing.assert_close(result.images, torch.full((2, 1, 1, 2), 0.6))  # A stopped at 0.6
    assert torch.equal(result.start, start) and result.targets.tolist() == [0, 0]
    p = torch.sigmoid(torch.tensor([4.8, 4.8]))
    torch.testing.assert_close(result.confidence, p)
    torch.testing.assert_close(result.history[1], torch.sigmoid(torch.tensor([4.8, 1.6])))
    short = fooling_images(_Ramp(), start, 0, step_size=0.1, max_steps=3)
    assert short.steps.tolist() == [1, 3] and short.reached.tolist() == [True, False]
    torch.testing.assert_close(short.images[1], torch.full((1, 1, 2), 0.4))
    torch.testing.assert_close(short.confidence, torch.sigmoid(torch.tensor([4.8, 3.2])))
    # a threshold met exactly counts as reached
    exact = _Ramp()(torch.full((1, 1, 1, 2), 0.6)).softmax(1)[0, 0].item()
    met = fooling_images(_Ramp(), start[:1], 0, threshold=exact, step_size=0.1)
    assert met.reached.tolist() == [True] and met.steps.tolist() == [1]
    with pytest.raises(ValueError, match=r"^targets must be class indices in 0\.\.1; got 5\.$"):
        fooling_images(_Ramp(), start, 5)


def test_no_gradient_leaves_the_fooling_image_where_it_started():
    from lib.manifolds import fooling_images

    start = torch.full((1, 1, 2, 2), 0.5)
    assert torch.equal(fooling_images(_Fixed(), start, 0, max_steps=2).images, start)


def test_checks_by_default_name_images_and_labels_and_predict_in_batches_of_256():
    from lib.manifolds import check_images, check_labels, predict, toy_mlp

    with pytest.raises(ValueError, match=r"^images must be pixels in \[0, 1\]"):
        check_images(torch.full((1, 1, 2, 2), 2.0))
    assert check_labels(3, 2, 4).tolist() == [3, 3]
    assert check_labels(torch.tensor([1.0, 0.0]), 2, 2).dtype == torch.long
    sizes = []

    class Recorder(nn.Module):
        def forward(self, x):
            sizes.append(len(x))
            return x.flatten(1)[:, :2]

    predict(Recorder(), torch.rand(300, 1, 2, 2))
    assert sizes == [256, 44]
    assert toy_mlp(classes=3, seed=1)[4].out_features == 3
