"""Correct variants and classic mistakes for 06_training_cnns (see README.md here)."""

# ----------------------------------------------------------------------------- accuracy
ACCURACY_INFERENCE_MODE = '''
import torch


def accuracy(model, x, y):
    """Fraction of right predictions, under inference_mode."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("x and y must hold the same, positive number of samples")
    model.eval()
    with torch.inference_mode():
        right = model(x).argmax(dim=-1).eq(y).sum()
    return right.item() / y.numel()
'''

ACCURACY_BATCHED = '''
import torch


def accuracy(model, x, y, batch_size=256):
    """Fraction of right predictions, evaluated in batches."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} samples but {y.shape[0]} labels")
    if x.shape[0] == 0:
        raise ValueError("no samples")
    was_training = model.training
    model.eval()
    right = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start:start + batch_size])
            right += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum())
    model.train(was_training)
    return right / x.shape[0]
'''

ACCURACY_MISTAKES = {
    "no model.eval(): dropout stays active": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()
''',
    "no torch.no_grad(): autograd records the evaluation": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    model.eval()
    return (model(x).argmax(dim=1) == y).float().mean().item()
''',
    "a percentage instead of a fraction": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    model.eval()
    with torch.no_grad():
        return 100 * (model(x).argmax(dim=1) == y).float().mean().item()
''',
    "returns a tensor instead of a Python float": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean()
''',
    "the number of right answers instead of their fraction": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).sum().item())
''',
    "argmax over the batch dimension (dim=0)": '''
import torch


def accuracy(model, x, y):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("bad sizes")
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=0) == y).float().mean().item()
''',
    "no check that x and y have the same number of samples": '''
import torch


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        predictions = model(x).argmax(dim=1)
    n = min(len(predictions), len(y))
    return (predictions[:n] == y[:n]).float().mean().item()
''',
}

# ----------------------------------------------------------------------------- train
TRAIN_GENERATOR = '''
import torch
import torch.nn.functional as F


def train(model, x_train, y_train, epochs=30, lr=1e-2, seed=0, batch_size=100):
    """Adam + cross-entropy on batches drawn with a seeded generator; Python-float bookkeeping."""
    n = len(x_train)
    if n != len(y_train) or n == 0:
        raise ValueError("x_train and y_train must hold the same, positive number of samples")
    if epochs < 0 or batch_size < 1 or lr < 0:
        raise ValueError("epochs >= 0, batch_size >= 1 and lr >= 0 are required")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(x_train.device)
        losses = []
        for batch in order.split(batch_size):
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["loss"].append(sum(losses) / len(losses))
    return history
'''

TRAIN_DATALOADER = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def train(model, x_train, y_train, epochs=30, lr=1e-2, seed=0, batch_size=100):
    """The same loop with a DataLoader, seeded through torch.manual_seed and a generator."""
    if x_train.shape[0] != y_train.shape[0]:
        raise ValueError("x_train and y_train differ in length")
    if x_train.shape[0] == 0:
        raise ValueError("no samples")
    if epochs < 0:
        raise ValueError("negative epochs")
    if batch_size < 1:
        raise ValueError("batch_size < 1")
    if lr < 0:
        raise ValueError("negative lr")
    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    history = {"loss": []}
    for _ in range(epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
            count += 1
        history["loss"].append(total / count)
    return history
'''

TRAIN_GLOBAL_SEED = '''
import torch
import torch.nn.functional as F


def train(model, x_train, y_train, epochs=30, lr=1e-2, seed=0, batch_size=100):
    """Seeds torch's global generator and draws the permutation on the data's device."""
    n = x_train.shape[0]
    if y_train.shape[0] != n or n == 0 or epochs < 0 or batch_size < 1 or lr < 0:
        raise ValueError(f"bad arguments: {n} samples, {y_train.shape[0]} labels, epochs={epochs}, "
                         f"batch_size={batch_size}, lr={lr}")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = {"loss": []}
    for _ in range(epochs):
        order = torch.randperm(n, device=x_train.device)
        total = torch.zeros((), dtype=torch.float64, device=x_train.device)
        batches = 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach().double()
            batches += 1
        history["loss"].append(float(total / batches))
    return history
'''


def _train_with(body: str, header: str = "import torch\nimport torch.nn.functional as F\n") -> str:
    """A full train cell whose epoch loop is ``body`` (indented 8 spaces)."""
    return header + '''

def train(model, x_train, y_train, epochs=30, lr=1e-2, seed=0, batch_size=100):
    n = x_train.shape[0]
    if y_train.shape[0] != n or n == 0 or epochs < 0 or batch_size < 1 or lr < 0:
        raise ValueError("bad arguments")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = {"loss": []}
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(x_train.device)
        losses = []
''' + body + '''
        history["loss"].append(sum(losses) / len(losses))
    return history
'''


_STEP = '''        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())'''

TRAIN_MISTAKES = {
    "no optimizer.zero_grad(): gradients accumulate": _train_with(
        _STEP.replace("            optimizer.zero_grad()\n", "")),
    "no model.train(): a model in eval mode trains in eval mode": _train_with(_STEP).replace(
        "    model.train()\n", ""),
    "not seeded: the order comes from the global random state": _train_with(_STEP).replace(
        "torch.randperm(n, generator=generator)", "torch.randperm(n)"),
    "round trip through NumPy for the batches": '''
import numpy as np
import torch
import torch.nn.functional as F


def train(model, x_train, y_train, epochs=30, lr=1e-2, seed=0, batch_size=100):
    n = x_train.shape[0]
    if y_train.shape[0] != n or n == 0 or epochs < 0 or batch_size < 1 or lr < 0:
        raise ValueError("bad arguments")
    rng = np.random.default_rng(seed)
    x_np, y_np = x_train.cpu().numpy(), y_train.cpu().numpy()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = {"loss": []}
    for _ in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb = torch.as_tensor(x_np[idx], device=x_train.device)
            yb = torch.as_tensor(y_np[idx], device=x_train.device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["loss"].append(sum(losses) / len(losses))
    return history
''',
    "mean squared error on one-hot labels instead of cross-entropy": _train_with(_STEP.replace(
        "F.cross_entropy(model(x_train[batch]), y_train[batch])",
        "_mse(model(x_train[batch]), y_train[batch])")).replace(
        "\n\ndef train", '''

def _mse(logits, labels):
    return F.mse_loss(logits, F.one_hot(labels, logits.shape[1]).to(logits.dtype))


def train'''),
    "the history keeps loss tensors instead of Python floats": _train_with(
        _STEP.replace("losses.append(loss.item())", "losses.append(loss)")),
    "no shuffling: the seed is ignored and the order is fixed": _train_with(_STEP).replace(
        "torch.randperm(n, generator=generator).to(x_train.device)", "torch.arange(n, device=x_train.device)"),
    "the history holds the last batch's loss, not the epoch mean": _train_with(_STEP).replace(
        "sum(losses) / len(losses)", "losses[-1]"),
    "lr ignored: Adam's default learning rate": _train_with(_STEP).replace(
        "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.Adam(model.parameters())"),
    "the last incomplete batch is dropped": _train_with(_STEP.replace(
        "range(0, n, batch_size)", "range(0, n - batch_size + 1, batch_size)")),
    "a softmax before the cross-entropy": _train_with(_STEP.replace(
        "F.cross_entropy(model(x_train[batch]), y_train[batch])",
        "F.cross_entropy(model(x_train[batch]).softmax(dim=1), y_train[batch])")),
    "SGD instead of Adam": _train_with(_STEP).replace(
        "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.SGD(model.parameters(), lr=lr)"),
}

# ----------------------------------------------------------------------------- make_fc_net
FC_CLASS = '''
import torch
from torch import nn


class _FullyConnected(nn.Module):
    def __init__(self, input_size, num_classes, hidden=100):
        super().__init__()
        self.hidden1 = nn.Linear(input_size, hidden)
        self.hidden2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = torch.relu(self.hidden1(x.flatten(1)))
        x = torch.relu(self.hidden2(x))
        return self.out(x)


def make_fc_net(input_size=40, num_classes=10):
    return _FullyConnected(input_size, num_classes)
'''

FC_SEQUENTIAL_GELU = '''
from torch import nn


def make_fc_net(input_size=40, num_classes=10):
    return nn.Sequential(
        nn.Linear(input_size, 128), nn.GELU(),
        nn.Linear(128, 64), nn.GELU(),
        nn.Linear(64, num_classes),
    )
'''


def _fc(layers: str) -> str:
    return "from torch import nn\n\n\ndef make_fc_net(input_size=40, num_classes=10):\n    return nn.Sequential(" + layers + ")\n"


FC_MISTAKES = {
    "no nonlinearity: the layers collapse into one linear map": _fc(
        "nn.Linear(input_size, 100), nn.Linear(100, 100), nn.Linear(100, num_classes)"),
    "a softmax after the last layer": _fc(
        "nn.Linear(input_size, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, num_classes), "
        "nn.Softmax(dim=1)"),
    "sizes hard-coded to 40 inputs and 10 classes": _fc(
        "nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)"),
    "too many parameters (two hidden layers of 1000 units)": _fc(
        "nn.Linear(input_size, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, num_classes)"),
    "no hidden layer (logistic regression)": _fc("nn.Linear(input_size, num_classes)"),
    "a ReLU after the last layer": _fc(
        "nn.Linear(input_size, 100), nn.ReLU(), nn.Linear(100, num_classes), nn.ReLU()"),
    "a convolution instead of a fully connected layer": _fc(
        "nn.Unflatten(1, (1, input_size)), nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Flatten(), "
        "nn.Linear(4 * (input_size - 2), 100), nn.ReLU(), nn.Linear(100, num_classes)"),
}

# ----------------------------------------------------------------------------- make_cnn
CNN_CLASS_PADDED = '''
import torch
from torch import nn


class _SmallCNN(nn.Module):
    def __init__(self, input_size, num_classes, channels=15):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        length = input_size
        for _ in range(3):
            length = (length + 2 - 3) // 2 + 1
        self.head = nn.Linear(channels * length, num_classes)

    def forward(self, x):
        x = x.unsqueeze(1)
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.head(x.flatten(1))


def make_cnn(input_size=40, num_classes=10):
    return _SmallCNN(input_size, num_classes)
'''

CNN_SEQUENTIAL_K5 = '''
from torch import nn


def make_cnn(input_size=40, num_classes=10):
    length = (input_size + 4 - 5) // 2 + 1
    length = (length + 2 - 3) // 2 + 1
    length = (length + 2 - 3) // 2 + 1
    return nn.Sequential(
        nn.Unflatten(1, (1, input_size)),
        nn.Conv1d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv1d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * length, num_classes),
    )
'''


def _cnn(channels: int = 15, act: str = "nn.ReLU(), ", tail: str = "", head: str = "nn.Unflatten(1, (1, input_size)), ",
         features: str = "channels * length") -> str:
    source = f'''from torch import nn


def make_cnn(input_size=40, num_classes=10):
    channels = {channels}
    length = input_size
    for _ in range(3):
        length = (length - 3) // 2 + 1
    return nn.Sequential(
        {head}nn.Conv1d(1, channels, 3, stride=2), {act}
        nn.Conv1d(channels, channels, 3, stride=2), {act}
        nn.Conv1d(channels, channels, 3, stride=2), {act}
        nn.Flatten(), nn.Linear({features}, num_classes), {tail}
    )
'''
    return "\n".join(line.rstrip() for line in source.splitlines()) + "\n"


CNN_MISTAKES = {
    "too many parameters (64 channels)": _cnn(channels=64),
    "no nonlinearity between the convolutions": _cnn(act=""),
    "a softmax after the last layer": _cnn(tail="nn.Softmax(dim=1)"),
    "no channel dimension: (N, L) fed straight to Conv1d": _cnn(head=""),
    "the linear layer's input size hard-coded for length 40": _cnn(features="60"),
    "too few channels to learn the task (3)": _cnn(channels=3),
    "no convolution: a fully connected network": '''
from torch import nn


def make_cnn(input_size=40, num_classes=10):
    return nn.Sequential(nn.Linear(input_size, 60), nn.ReLU(), nn.Linear(60, 40), nn.ReLU(),
                         nn.Linear(40, num_classes))
''',
    "a ReLU after the last layer": _cnn(tail="nn.ReLU()"),
}

CORRECT = {
    "alternative-1": {
        "accuracy": ACCURACY_INFERENCE_MODE,
        "train": TRAIN_GENERATOR,
        "make_fc_net": FC_CLASS,
        "make_cnn": CNN_CLASS_PADDED,
    },
    "alternative-2": {
        "accuracy": ACCURACY_BATCHED,
        "train": TRAIN_DATALOADER,
        "make_fc_net": FC_SEQUENTIAL_GELU,
        "make_cnn": CNN_SEQUENTIAL_K5,
    },
    "alternative-3": {"train": TRAIN_GLOBAL_SEED},
}

MISTAKES = {
    "accuracy": ACCURACY_MISTAKES,
    "train": TRAIN_MISTAKES,
    "make_fc_net": FC_MISTAKES,
    "make_cnn": CNN_MISTAKES,
}
