import inspect

import pytest
import torch
from torch import nn

import lit_kd.models as models
from lit_kd.models import MLP, CIFARResNet, SmallCNN

FACTORIES = [
    models.resnet8,
    models.resnet14,
    models.resnet20,
    models.resnet32,
    models.resnet44,
    models.resnet56,
    models.resnet110,
    models.resnet8x4,
    models.resnet32x4,
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# (model, input shape); kept tiny so the whole file runs in a few seconds on CPU.
CASES = [
    pytest.param(lambda: MLP(), (4, 1, 8, 8), id="mlp-digits"),
    pytest.param(lambda: MLP(784, (32,), 10), (4, 1, 28, 28), id="mlp-mnist"),
    pytest.param(lambda: MLP(64, (), 10), (4, 64), id="mlp-linear"),
    pytest.param(lambda: SmallCNN(1, 10, width=8), (4, 1, 8, 8), id="cnn-8x8"),
    pytest.param(lambda: SmallCNN(1, 10, width=8), (4, 1, 28, 28), id="cnn-28x28"),
    pytest.param(lambda: SmallCNN(3, 100, width=8), (4, 3, 32, 32), id="cnn-32x32"),
    pytest.param(lambda: models.resnet8(num_classes=10), (2, 3, 32, 32), id="resnet8"),
    pytest.param(lambda: models.resnet8x4(), (2, 3, 32, 32), id="resnet8x4"),
]


@pytest.mark.parametrize(("make", "shape"), CASES)
def test_shapes_and_feature_contract(make, shape):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(shape)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert isinstance(model.head, nn.Linear)
    assert feats.shape == (shape[0], model.feature_dim)
    assert logits.shape == (shape[0], model.num_classes)
    assert model.head.in_features == model.feature_dim
    assert model.head.out_features == model.num_classes
    torch.testing.assert_close(logits, model.head(feats))


def test_resnet_feature_dims():
    assert models.resnet20().feature_dim == 64
    assert models.resnet32x4().feature_dim == 256
    assert SmallCNN(width=32).feature_dim == 128
    assert MLP(784, (1200, 1200)).feature_dim == 1200


@pytest.mark.parametrize(
    ("factory", "num_classes", "published"),
    [
        # He et al. (2016) report CIFAR-10 sizes; CRD/RepDistiller tables CIFAR-100.
        (models.resnet20, 10, 0.27e6),
        (models.resnet20, 100, 0.28e6),
        (models.resnet32, 100, 0.47e6),
        (models.resnet56, 100, 0.86e6),
        (models.resnet110, 100, 1.74e6),
        (models.resnet8x4, 100, 1.23e6),
        (models.resnet32x4, 100, 7.43e6),
    ],
)
def test_resnet_param_counts(factory, num_classes, published):
    count = n_params(factory(num_classes=num_classes))
    assert abs(count - published) / published < 0.02, count


def test_resnet_exact_param_counts():
    # Exact RepDistiller counts, to catch any silent architecture drift.
    assert n_params(models.resnet20(num_classes=10)) == 272_474
    assert n_params(models.resnet8x4(num_classes=100)) == 1_233_540
    assert n_params(models.resnet32x4(num_classes=100)) == 7_433_860


def test_resnet_projection_shortcuts():
    # Option B: 1x1 conv+BN only where the shape changes.
    base = models.resnet8()
    assert base.layer1[0].downsample is None
    assert isinstance(base.layer2[0].downsample[0], nn.Conv2d)
    # x4 widens 32 -> 64 in stage 1 at stride 1, which needs a projection too.
    assert models.resnet8x4().layer1[0].downsample is not None


def test_factories_signature():
    for factory in FACTORIES:
        sig = inspect.signature(factory)
        assert sig.return_annotation in (CIFARResNet, "CIFARResNet")
        assert sig.parameters["num_classes"].default == 100
        assert "Args:" in factory.__doc__ and "num_classes" in factory.__doc__
    assert len(models.resnet110().layer1) == 18


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CIFARResNet(depth=21), "depth"),
        (lambda: CIFARResNet(depth=2), "depth"),
        (lambda: CIFARResNet(widths=(16, 32, 64)), "widths"),
        (lambda: CIFARResNet(widths=(16, 0, 32, 64)), "widths"),
        (lambda: CIFARResNet(num_classes=0), "num_classes"),
        (lambda: models.resnet20(num_classes=0), "num_classes"),
        (lambda: MLP(num_classes=0), "num_classes"),
        (lambda: MLP(in_features=0), "in_features"),
        (lambda: MLP(hidden_sizes=(8, 0)), "hidden_sizes"),
        (lambda: MLP(dropout=1.0), "`dropout`"),
        (lambda: MLP(dropout=-0.1), "`dropout`"),
        (lambda: MLP(input_dropout=1.5), "input_dropout"),
        (lambda: SmallCNN(num_classes=0), "num_classes"),
        (lambda: SmallCNN(in_channels=0), "in_channels"),
        (lambda: SmallCNN(width=0), "width"),
        (lambda: SmallCNN(dropout=1.0), "dropout"),
    ],
)
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_mlp_dropout_only_in_train_mode():
    torch.manual_seed(0)
    model = MLP(64, (128, 128), 10, dropout=0.5, input_dropout=0.2)
    x = torch.randn(8, 1, 8, 8)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_hinton_mlp_sizes():
    teacher = MLP(784, (1200, 1200), 10, dropout=0.5, input_dropout=0.2)
    student = MLP(784, (800, 800), 10)
    assert n_params(teacher) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert n_params(student) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10


def test_conv_kaiming_init():
    model = models.resnet8x4()
    conv = model.layer3[0].conv2
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)


def test_torchvision_model_by_name():
    from lit_kd.models import TorchvisionModel

    model = TorchvisionModel("resnet18", num_classes=7)
    assert model.num_classes == 7
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert TorchvisionModel("mobilenet_v3_small").num_classes == 1000
    with pytest.raises(ValueError, match="`name` 'resnet19' is not a torchvision classification model"):
        TorchvisionModel("resnet19")
