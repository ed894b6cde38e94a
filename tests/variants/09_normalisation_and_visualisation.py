"""Correct variants and classic mistakes for 09_normalisation_and_visualisation (see README.md here).

Every source is a whole solution cell: it imports what it needs and defines its own private
helpers, so it relies on no other graded function.
"""


def _with(source: str, *changes: tuple[str, str]) -> str:
    """Apply (old, new) replacements, each of which must occur in ``source``."""
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


# ----------------------------------------------------------------- batchnorm2d_forward
_BN_FORWARD = '''import numpy as np


def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Vectorised, in the input's dtype, statistics with keepdims."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("x must be 4-D (N, C, H, W)")
    rm, rv = np.asarray(running_mean), np.asarray(running_var)
    if training:
        m = x.size // x.shape[1]
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        new_rm = (1 - momentum) * rm + momentum * mean.reshape(-1)
        new_rv = (1 - momentum) * rv + momentum * var.reshape(-1) * m / (m - 1)
    else:
        mean, var = rm.reshape(1, -1, 1, 1), rv.reshape(1, -1, 1, 1)
        new_rm, new_rv = np.array(rm), np.array(rv)
    x_hat = (x - mean) / np.sqrt(var + eps)
    y = np.asarray(gamma).reshape(1, -1, 1, 1) * x_hat + np.asarray(beta).reshape(1, -1, 1, 1)
    return y, new_rm, new_rv
'''

_BN_FORWARD_LOOPS = '''import numpy as np


def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """One channel at a time, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError("x must be 4-D (N, C, H, W)")
    y = np.empty_like(x)
    new_rm = np.array(running_mean, dtype=np.float64)
    new_rv = np.array(running_var, dtype=np.float64)
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        if training:
            mu = values.sum() / values.size
            var = ((values - mu) ** 2).sum() / values.size
            new_rm[c] = (1 - momentum) * new_rm[c] + momentum * mu
            new_rv[c] = (1 - momentum) * new_rv[c] + momentum * ((values - mu) ** 2).sum() / (values.size - 1)
        else:
            mu, var = float(running_mean[c]), float(running_var[c])
        y[:, c] = gamma[c] * (x[:, c] - mu) / np.sqrt(var + eps) + beta[c]
    return y, new_rm, new_rv
'''

# ----------------------------------------------------------------- batchnorm2d_backward
_BN_BACKWARD = '''import numpy as np


def batchnorm2d_backward(dy, x, gamma, eps=1e-5):
    """The staged chain rule: through x_hat, the variance and the mean."""
    dy, x, gamma = np.asarray(dy), np.asarray(x), np.asarray(gamma)
    axes = (0, 2, 3)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=axes, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    dx_hat = dy * gamma.reshape(1, -1, 1, 1)
    dvar = (dx_hat * xc).sum(axis=axes, keepdims=True) * -0.5 * std ** -3
    dmu = -(dx_hat / std).sum(axis=axes, keepdims=True) + dvar * (-2.0 * xc).mean(axis=axes, keepdims=True)
    dx = dx_hat / std + dvar * 2.0 * xc / m + dmu / m
    return dx, dgamma, dbeta
'''

_BN_BACKWARD_LOOPS = '''import numpy as np


def batchnorm2d_backward(dy, x, gamma, eps=1e-5):
    """One channel at a time, with the compact formula, in float64."""
    dy, x = np.asarray(dy, dtype=np.float64), np.asarray(x, dtype=np.float64)
    dx = np.empty_like(x)
    dgamma, dbeta = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        xc, g = x[:, c], dy[:, c]
        inv = 1.0 / np.sqrt(xc.var() + eps)
        x_hat = (xc - xc.mean()) * inv
        dbeta[c] = g.sum()
        dgamma[c] = (g * x_hat).sum()
        dx[:, c] = gamma[c] * inv * (g - g.mean() - x_hat * (g * x_hat).mean())
    return dx, dgamma, dbeta
'''

# ----------------------------------------------------------------- BatchNorm2d
_BN_MODULE = '''import torch
import torch.nn as nn


class BatchNorm2d(nn.Module):
    """In-place updates of the buffers under no_grad."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}, H, W), got {tuple(x.shape)}")
        m = x.numel() // x.shape[1]
        batch_mean = x.mean(dim=(0, 2, 3), keepdim=True)
        batch_var = ((x - batch_mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        if self.training:
            mean, var = batch_mean, batch_var
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.flatten())
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.flatten() * m / (m - 1))
                self.num_batches_tracked += 1
        else:
            mean = self.running_mean.view(1, -1, 1, 1)
            var = self.running_var.view(1, -1, 1, 1)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
'''

_BN_MODULE_VAR_MEAN = '''import torch
import torch.nn as nn


class BatchNorm2d(nn.Module):
    """torch.var_mean on (C, N*H*W), buffers replaced by new detached tensors."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError("expected a 4-D input")
        if x.shape[1] != self.num_features:
            raise ValueError("wrong number of channels")
        flat = x.transpose(0, 1).reshape(self.num_features, -1)
        if self.training:
            var, mean = torch.var_mean(flat, dim=1, unbiased=False)
            m = flat.shape[1]
            self.running_mean = ((1 - self.momentum) * self.running_mean + self.momentum * mean).detach()
            self.running_var = ((1 - self.momentum) * self.running_var + self.momentum * var * (m / (m - 1))).detach()
            self.num_batches_tracked = self.num_batches_tracked + 1
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]
'''

# ----------------------------------------------------------------- grad_cam
_CAM = '''import torch


def grad_cam(model, layer, x, target):
    """All images at once: one-hot selection of the target logits, torch.autograd.grad."""
    saved = []
    handle = layer.register_forward_hook(lambda module, inputs, output: saved.append(output))
    try:
        with torch.enable_grad():
            logits = model(x)
    finally:
        handle.remove()
    a = saved[0]
    targets = torch.as_tensor(target, device=logits.device)
    if targets.dim() == 0:
        targets = targets.repeat(x.shape[0])
    one_hot = torch.nn.functional.one_hot(targets.long(), logits.shape[1]).to(logits.dtype)
    (grads,) = torch.autograd.grad((logits * one_hot).sum(), a)
    weights = grads.mean(dim=(2, 3))
    return torch.relu(torch.einsum("nk,nkhw->nhw", weights, a)).detach()
'''

_CAM_LOOPS = '''import torch


def grad_cam(model, layer, x, target):
    """One image at a time, the channel sum as a loop."""
    maps = []
    for n in range(x.shape[0]):
        t = int(target) if isinstance(target, int) else int(target[n])
        saved = {}

        def hook(module, inputs, output):
            saved["a"] = output

        handle = layer.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                score = model(x[n : n + 1])[0, t]
        finally:
            handle.remove()
        a = saved["a"]
        (g,) = torch.autograd.grad(score, a)
        cam = torch.zeros(a.shape[2:], dtype=a.dtype, device=a.device)
        for k in range(a.shape[1]):
            cam = cam + g[0, k].mean() * a[0, k]
        maps.append(torch.clamp(cam, min=0).detach())
    return torch.stack(maps)
'''

# ----------------------------------------------------------------- occlusion_map
_OCC = '''import torch


def occlusion_map(model, x, target, patch, stride, fill=0.0):
    """One occluded copy at a time."""
    if x.dim() != 4:
        raise ValueError("x must be 4-D")
    n, _, h, w = x.shape
    if patch < 1 or stride < 1 or patch > h or patch > w:
        raise ValueError("bad patch or stride")
    rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1
    targets = torch.as_tensor(target, device=x.device).long().reshape(-1).expand(n)
    pick = torch.arange(n, device=x.device)
    out = torch.empty((n, rows, cols), dtype=x.dtype, device=x.device)
    with torch.no_grad():
        base = model(x)[pick, targets]
        for i in range(rows):
            for j in range(cols):
                hidden = x.clone()
                hidden[:, :, i * stride : i * stride + patch, j * stride : j * stride + patch] = fill
                out[:, i, j] = base - model(hidden)[pick, targets]
    return out
'''

_OCC_BATCHED = '''import torch


def occlusion_map(model, x, target, patch, stride, fill=0.0):
    """Every position of every image in one batch, squares drawn with a mask."""
    if x.dim() != 4:
        raise ValueError("x must be 4-D")
    n, c, h, w = x.shape
    if min(patch, stride) < 1 or patch > min(h, w):
        raise ValueError("bad patch or stride")
    rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1
    r = torch.arange(h, device=x.device)
    q = torch.arange(w, device=x.device)
    top = torch.arange(rows, device=x.device) * stride
    left = torch.arange(cols, device=x.device) * stride
    in_rows = (r[None, :] >= top[:, None]) & (r[None, :] < top[:, None] + patch)  # (rows, H)
    in_cols = (q[None, :] >= left[:, None]) & (q[None, :] < left[:, None] + patch)  # (cols, W)
    mask = (in_rows[:, None, :, None] & in_cols[None, :, None, :]).reshape(rows * cols, 1, h, w)
    hidden = torch.where(mask[None], torch.full((), fill, dtype=x.dtype, device=x.device), x[:, None])
    if isinstance(target, int):
        targets = torch.full((n,), target, device=x.device)
    else:
        targets = torch.as_tensor(target, device=x.device).long()
    with torch.no_grad():
        base = model(x).gather(1, targets[:, None])
        scores = model(hidden.reshape(n * rows * cols, c, h, w)).reshape(n, rows * cols, -1)
        occluded = scores.gather(2, targets[:, None, None].expand(n, rows * cols, 1))[..., 0]
    return (base - occluded).reshape(n, rows, cols)
'''

CORRECT = {
    "vectorised": {
        "batchnorm2d_forward": _BN_FORWARD,
        "batchnorm2d_backward": _BN_BACKWARD,
        "BatchNorm2d": _BN_MODULE,
        "grad_cam": _CAM,
        "occlusion_map": _OCC_BATCHED,
    },
    "loops": {
        "batchnorm2d_forward": _BN_FORWARD_LOOPS,
        "batchnorm2d_backward": _BN_BACKWARD_LOOPS,
        "BatchNorm2d": _BN_MODULE_VAR_MEAN,
        "grad_cam": _CAM_LOOPS,
        "occlusion_map": _OCC,
    },
}

MISTAKES = {
    "batchnorm2d_forward": {
        "running variance updated with the biased variance": _with(
            _BN_FORWARD, ("var.reshape(-1) * m / (m - 1)", "var.reshape(-1)")),
        "output normalised with the unbiased variance": _with(
            _BN_FORWARD, ("x_hat = (x - mean) / np.sqrt(var + eps)",
                          "x_hat = (x - mean) / np.sqrt((var * m / (m - 1) if training else var) + eps)")),
        "eps outside the square root": _with(
            _BN_FORWARD, ("np.sqrt(var + eps)", "(np.sqrt(var) + eps)")),
        "statistics over H and W of each image": _with(
            _BN_FORWARD, ("mean = x.mean(axis=(0, 2, 3), keepdims=True)", "mean = x.mean(axis=(2, 3), keepdims=True)"),
            ("var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)",
             "var = ((x - mean) ** 2).mean(axis=(2, 3), keepdims=True)"),
            ("mean.reshape(-1)", "mean.mean(axis=(0, 2, 3))"), ("var.reshape(-1)", "var.mean(axis=(0, 2, 3))")),
        "running statistics returned as the input arrays in evaluation mode": _with(
            _BN_FORWARD, ("new_rm, new_rv = np.array(rm), np.array(rv)", "new_rm, new_rv = rm, rv")),
        "evaluation mode normalises with the batch statistics": _with(
            _BN_FORWARD, ("    if training:\n        m = x.size", "    if True:\n        m = x.size"),
            ("    return y, new_rm, new_rv",
             "    return y, (new_rm if training else np.array(rm)), (new_rv if training else np.array(rv))")),
        "running statistics updated in place": _with(
            _BN_FORWARD, ("new_rm = (1 - momentum) * rm + momentum * mean.reshape(-1)",
                          "rm *= 1 - momentum\n        rm += momentum * mean.reshape(-1)\n        new_rm = rm"),
            ("new_rv = (1 - momentum) * rv + momentum * var.reshape(-1) * m / (m - 1)",
             "rv *= 1 - momentum\n        rv += momentum * var.reshape(-1) * m / (m - 1)\n        new_rv = rv")),
    },
    "batchnorm2d_backward": {
        "the paths through the mean and the variance are missing": _with(
            _BN_BACKWARD_LOOPS, ("(g - g.mean() - x_hat * (g * x_hat).mean())", "g")),
        "the path through the variance is missing": _with(
            _BN_BACKWARD_LOOPS, ("(g - g.mean() - x_hat * (g * x_hat).mean())", "(g - g.mean())")),
        "dgamma and dbeta swapped": _with(
            _BN_BACKWARD_LOOPS, ("    return dx, dgamma, dbeta", "    return dx, dbeta, dgamma")),
        "dgamma and dbeta not summed over N": _with(
            _BN_BACKWARD, ("dbeta = dy.sum(axis=axes)", "dbeta = dy.sum(axis=(2, 3))"),
            ("dgamma = (dy * x_hat).sum(axis=axes)", "dgamma = (dy * x_hat).sum(axis=(2, 3))")),
        "dgamma from the raw input instead of x_hat": _with(
            _BN_BACKWARD_LOOPS, ("dgamma[c] = (g * x_hat).sum()", "dgamma[c] = (g * xc).sum()")),
        "the unbiased variance used": _with(
            _BN_BACKWARD_LOOPS, ("inv = 1.0 / np.sqrt(xc.var() + eps)", "inv = 1.0 / np.sqrt(xc.var(ddof=1) + eps)")),
    },
    "BatchNorm2d": {
        "num_batches_tracked not updated": _with(_BN_MODULE, ("                self.num_batches_tracked += 1\n", "")),
        "running variance updated with the biased variance": _with(
            _BN_MODULE, ("var.flatten() * m / (m - 1)", "var.flatten()")),
        "evaluation mode normalises with the batch statistics": _with(
            _BN_MODULE, ("            mean = self.running_mean.view(1, -1, 1, 1)\n            var = self.running_var.view(1, -1, 1, 1)",
                         "            mean, var = batch_mean, batch_var")),
        "weight and bias are plain tensors, not Parameters": _with(
            _BN_MODULE, ("self.weight = nn.Parameter(torch.ones(num_features))",
                         "self.register_buffer(\"weight\", torch.ones(num_features))"),
            ("self.bias = nn.Parameter(torch.zeros(num_features))",
             "self.register_buffer(\"bias\", torch.zeros(num_features))")),
        "running statistics not registered as buffers": _with(
            _BN_MODULE, ('self.register_buffer("running_mean", torch.zeros(num_features))',
                         "self.running_mean = torch.zeros(num_features)"),
            ('self.register_buffer("running_var", torch.ones(num_features))',
             "self.running_var = torch.ones(num_features)")),
        "momentum applied the wrong way round": _with(
            _BN_MODULE, ("self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.flatten())",
                         "self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean.flatten())"),
            ("self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.flatten() * m / (m - 1))",
             "self.running_var.mul_(self.momentum).add_((1 - self.momentum) * var.flatten() * m / (m - 1))")),
        "output normalised with the unbiased variance": _with(
            _BN_MODULE, ("y = (x - mean) / torch.sqrt(var + self.eps)",
                         "y = (x - mean) / torch.sqrt((var * m / (m - 1) if self.training else var) + self.eps)")),
    },
    "grad_cam": {
        "no ReLU": _with(_CAM, ("torch.relu(torch.einsum(\"nk,nkhw->nhw\", weights, a))",
                                "torch.einsum(\"nk,nkhw->nhw\", weights, a)")),
        "gradients not averaged over positions (elementwise product)": _with(
            _CAM, ("torch.relu(torch.einsum(\"nk,nkhw->nhw\", weights, a))", "torch.relu((grads * a).sum(dim=1))")),
        "normalised output": _with(
            _CAM, ("    return torch.relu(torch.einsum(\"nk,nkhw->nhw\", weights, a)).detach()",
                   "    cam = torch.relu(torch.einsum(\"nk,nkhw->nhw\", weights, a)).detach()\n"
                   "    return cam / cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]")),
        "a tensor target ignored (the predicted class is explained)": _with(
            _CAM, ("    if targets.dim() == 0:\n        targets = targets.repeat(x.shape[0])",
                   "    if targets.dim() == 0:\n        targets = targets.repeat(x.shape[0])\n"
                   "    else:\n        targets = logits.argmax(dim=1)")),
        "the model left in eval mode": _with(
            _CAM, ("    try:\n        with torch.enable_grad():", "    model.eval()\n    try:\n        with torch.enable_grad():")),
        "gradients left in the parameters (.backward())": _with(
            _CAM, ("    (grads,) = torch.autograd.grad((logits * one_hot).sum(), a)",
                   "    a.retain_grad()\n    (logits * one_hot).sum().backward()\n    grads = a.grad")),
    },
    "occlusion_map": {
        "sign flipped": _with(_OCC, ("out[:, i, j] = base - model(hidden)[pick, targets]",
                                     "out[:, i, j] = model(hidden)[pick, targets] - base")),
        "fill ignored": _with(_OCC, ("j * stride + patch] = fill", "j * stride + patch] = 0.0")),
        "stride ignored": _with(_OCC, ("rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1",
                                       "stride = 1\n    rows, cols = h - patch + 1, w - patch + 1")),
        "patch one pixel too small": _with(
            _OCC, ("hidden[:, :, i * stride : i * stride + patch, j * stride : j * stride + patch] = fill",
                   "hidden[:, :, i * stride : i * stride + patch - 1, j * stride : j * stride + patch - 1] = fill")),
        "squares centred on the positions (padding)": _with(
            _OCC, ("hidden[:, :, i * stride : i * stride + patch, j * stride : j * stride + patch] = fill",
                   "r0, c0 = max(i * stride - patch // 2, 0), max(j * stride - patch // 2, 0)\n"
                   "                hidden[:, :, r0 : i * stride - patch // 2 + patch, c0 : j * stride - patch // 2 + patch] = fill")),
        "partial positions at the border kept (rounded up)": _with(
            _OCC, ("rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1",
                   "rows, cols = -(-(h - patch) // stride) + 1, -(-(w - patch) // stride) + 1")),
    },
}
