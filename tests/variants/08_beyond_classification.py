"""Correct variants and classic mistakes for 08_beyond_classification (see README.md here)."""

# ----------------------------------------------------------------------------- correct
IOU_PLAIN = '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    if ax2 < ax1 or ay2 < ay1 or bx2 < bx1 or by2 < by1:
        raise ValueError("boxes need x1 <= x2 and y1 <= y2")
    inter_w = min(ax2, bx2) - max(ax1, bx1)
    inter_h = min(ay2, by2) - max(ay1, by1)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)
'''

IOU_NUMPY = '''
import numpy as np

def iou(box_a, box_b):
    boxes = np.array([box_a, box_b], dtype=np.float64)
    if boxes.shape != (2, 4) or (boxes[:, 2:] < boxes[:, :2]).any():
        raise ValueError(f"expected two boxes (x1, y1, x2, y2) with x1 <= x2, y1 <= y2, got {boxes.tolist()}")
    low = boxes[:, :2].max(axis=0)
    high = boxes[:, 2:].min(axis=0)
    inter = float(np.prod(np.clip(high - low, 0.0, None)))
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = float(areas.sum()) - inter
    return inter / union if union > 0 else 0.0
'''

NMS_LOOPS = '''
import numpy as np

def _overlap(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(_overlap(boxes[i], boxes[k]) <= iou_threshold for k in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)
'''

NMS_MATRIX = '''
import numpy as np

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must be (M, 4)")
    if scores.ndim != 1 or len(scores) != len(boxes):
        raise ValueError("scores must be (M,)")
    order = np.lexsort((np.arange(len(scores)), -scores))
    b = boxes[order]
    low = np.maximum(b[:, None, :2], b[None, :, :2])
    high = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    area = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area[:, None] + area[None, :] - inter
    ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    alive = np.ones(len(b), dtype=bool)
    for i in range(len(b)):
        if alive[i]:
            later = np.arange(len(b)) > i
            alive &= ~(later & (ious[i] > iou_threshold))
    return order[alive].astype(np.int64)
'''

YOLO_LOOPS = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=float)
    if grid.ndim != 3 or grid.shape[2] < 6:
        raise ValueError("grid_output must be (S_h, S_w, 5 + C) with C >= 1")
    s_h, s_w = grid.shape[:2]
    boxes, scores, classes = [], [], []
    for r in range(s_h):
        for c in range(s_w):
            p, tx, ty, w, h = grid[r, c, :5]
            q = grid[r, c, 5:]
            k = int(np.argmax(q))
            score = p * q[k]
            if score > conf_threshold:
                cx, cy = (c + tx) / s_w, (r + ty) / s_h
                boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                scores.append(score)
                classes.append(k)
    return (np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(scores, dtype=np.float64),
            np.array(classes, dtype=np.int64))
'''

YOLO_FLAT = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[-1] < 6:
        raise ValueError(f"bad grid shape {grid.shape}")
    s_h, s_w, d = grid.shape
    cells = grid.reshape(-1, d)
    r, c = np.divmod(np.arange(s_h * s_w), s_w)
    score = cells[:, 0] * cells[:, 5:].max(axis=1)
    keep = np.flatnonzero(score > conf_threshold)
    cx = (c[keep] + cells[keep, 1]) / s_w
    cy = (r[keep] + cells[keep, 2]) / s_h
    w, h = cells[keep, 3], cells[keep, 4]
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).reshape(-1, 4)
    return boxes, score[keep], cells[keep, 5:].argmax(axis=1).astype(np.int64)
'''

UP_REPEAT = '''
import torch

def upsample_nearest(x, scale):
    if x.dim() != 4:
        raise ValueError("x must be (N, C, H, W)")
    if type(scale) is not int or scale < 1:
        raise ValueError("scale must be a positive int")
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
'''

UP_INDEX = '''
import torch

def upsample_nearest(x, scale):
    if x.ndim != 4:
        raise ValueError("x must be (N, C, H, W)")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError("scale must be a positive int")
    h, w = x.shape[-2:]
    rows = torch.arange(h * scale, device=x.device) // scale
    cols = torch.arange(w * scale, device=x.device) // scale
    return x[:, :, rows[:, None], cols[None, :]]
'''

ED_PLAIN = '''
import torch
from torch import nn

class EncoderDecoder(nn.Module):
    """No BatchNorm: conv-ReLU blocks with additive skips."""

    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU())
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), nn.ReLU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 2, stride=2), nn.ReLU())
        self.head = nn.Conv2d(w, num_classes, 3, padding=1)

    def forward(self, x):
        s0 = self.stem(x)
        s1 = self.down1(s0)
        z = self.down2(s1)
        return self.head(self.up2(self.up1(z) + s1) + s0)
'''

ED_UNET = '''
import torch
from torch import nn

def _double(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

class EncoderDecoder(nn.Module):
    """U-Net style: concatenated skips, 4x4 transposed convolutions with padding 1."""

    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        self.enc0 = _double(in_channels, w)
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1)
        self.dec1 = nn.Sequential(nn.BatchNorm2d(4 * w), nn.ReLU(), nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)
        self.dec2 = nn.Sequential(nn.BatchNorm2d(2 * w), nn.ReLU(), nn.Conv2d(2 * w, num_classes, 1))

    def forward(self, x):
        e0 = self.enc0(x)
        e1 = self.down1(e0)
        z = self.down2(e1)
        d1 = self.dec1(torch.cat([self.up1(z), e1], dim=1))
        return self.dec2(torch.cat([self.up2(d1), e0], dim=1))
'''

ED_NO_BN_NO_SKIPS = '''
import torch
from torch import nn

class EncoderDecoder(nn.Module):
    """No BatchNorm and no skip connections: the plainest network the list asks for."""

    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 2, stride=2), nn.ReLU(),
            nn.Conv2d(w, num_classes, 3, padding=1),
        )

    def forward(self, x):
        return self.net(x)
'''

AP_LOOPS = '''
import numpy as np

def average_precision(scores, is_match, n_ground_truth):
    scores = np.asarray(scores, dtype=float)
    is_match = np.asarray(is_match, dtype=bool)
    if scores.ndim != 1 or is_match.shape != scores.shape:
        raise ValueError("scores and is_match must both have shape (M,)")
    if n_ground_truth < 0 or is_match.sum() > n_ground_truth:
        raise ValueError("n_ground_truth must be >= 0 and at least the number of matches")
    if n_ground_truth == 0:
        return 0.0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])   # sorted() is stable
    precisions, recalls, hits = [], [], 0
    for rank, i in enumerate(order, start=1):
        hits += bool(is_match[i])
        precisions.append(hits / rank)
        recalls.append(hits / n_ground_truth)
    total, previous = 0.0, 0.0
    for i in range(len(order)):
        total += (recalls[i] - previous) * max(precisions[i:])
        previous = recalls[i]
    return float(total)
'''

AP_VOC = '''
import numpy as np

def average_precision(scores, is_match, n_ground_truth):
    scores = np.asarray(scores, dtype=np.float64)
    hit = np.asarray(is_match).astype(bool)
    if scores.ndim != 1 or hit.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and is_match {hit.shape} must be (M,)")
    if n_ground_truth < 0:
        raise ValueError("negative n_ground_truth")
    if hit.sum() > n_ground_truth:
        raise ValueError("more matches than ground-truth boxes")
    if n_ground_truth == 0:
        return 0.0
    order = np.lexsort((np.arange(len(scores)), -scores))
    tp = np.cumsum(hit[order])
    rec = tp / n_ground_truth
    prec = tp / np.maximum(np.arange(1, len(scores) + 1), 1)
    mrec = np.concatenate(([0.0], rec, [1.0]))       # the VOC devkit's code
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
'''

CAUSAL_TAPS = '''
import torch

def causal_conv1d_torch(x, w, b=None, dilation=1):
    if x.dim() != 3 or w.dim() != 3 or w.shape[1] != x.shape[1] or w.shape[2] == 0:
        raise ValueError("x must be (N, C, L) and w (F, C, K) with K >= 1 and matching C")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError("b must be (F,)")
    if type(dilation) is not int or dilation < 1:
        raise ValueError("dilation must be an int >= 1")
    n, c, length = x.shape
    k = w.shape[2]
    out = torch.zeros(n, w.shape[0], length, dtype=x.dtype, device=x.device)
    for tap in range(k):
        delay = dilation * (k - 1 - tap)          # how far back this tap looks
        if delay >= length:
            continue
        shifted = torch.cat([x.new_zeros(n, c, delay), x[:, :, : length - delay]], dim=2)
        out = out + torch.einsum("fc,ncl->nfl", w[:, :, tap], shifted)
    return out if b is None else out + b.reshape(1, -1, 1)
'''

CAUSAL_UNFOLD = '''
import torch
import torch.nn.functional as F

def causal_conv1d_torch(x, w, b=None, dilation=1):
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError("x and w must be 3-D")
    if x.shape[1] != w.shape[1]:
        raise ValueError("channel mismatch")
    if w.shape[-1] < 1:
        raise ValueError("empty kernel")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError("bad bias shape")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError("bad dilation")
    k = w.shape[-1]
    span = dilation * (k - 1) + 1
    windows = F.pad(x, (span - 1, 0)).unfold(2, span, 1)[..., ::dilation]   # (N, C, L, K)
    out = torch.einsum("nclk,fck->nfl", windows, w)
    return out if b is None else out + b[None, :, None]
'''

UNET_STRIDED = '''
import torch
from torch import nn

class UNet(nn.Module):
    """Strided convolutions down, transposed convolutions up, [up, skip] order, no BatchNorm."""

    def __init__(self, in_channels, num_classes, width=16, depth=2):
        super().__init__()
        c = [width * 2 ** k for k in range(depth + 1)]
        self.depth = depth
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c[0], c[0], 3, padding=1), nn.ReLU())
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c[k], c[k + 1], 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(c[k + 1], c[k + 1], 3, padding=1), nn.ReLU()) for k in range(depth))
        self.up = nn.ModuleList(nn.ConvTranspose2d(c[k + 1], c[k], 2, stride=2) for k in range(depth))
        self.merge = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * c[k], c[k], 3, padding=1), nn.ReLU(),
                          nn.Conv2d(c[k], c[k], 3, padding=1), nn.ReLU()) for k in range(depth))
        self.head = nn.Conv2d(c[0], num_classes, 1)

    def forward(self, x):
        skips = [self.stem(x)]
        for step in self.down:
            skips.append(step(skips[-1]))
        y = skips[-1]
        for k in range(self.depth - 1, -1, -1):
            y = self.merge[k](torch.cat([self.up[k](y), skips[k]], dim=1))
        return self.head(y)
'''

UNET_FUNCTIONAL = '''
import torch
import torch.nn.functional as F
from torch import nn

class _Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

class UNet(nn.Module):
    """Functional ReLU and max-pool; nearest upsampling and a 1x1 convolution on the way up."""

    def __init__(self, in_channels, num_classes, width=16, depth=2):
        super().__init__()
        ch = [width << k for k in range(depth + 1)]
        self.enc = nn.ModuleList([_Block(in_channels, ch[0])] + [_Block(ch[k - 1], ch[k]) for k in range(1, depth + 1)])
        self.reduce = nn.ModuleList(nn.Conv2d(ch[k + 1], ch[k], 1) for k in range(depth))
        self.dec = nn.ModuleList(_Block(2 * ch[k], ch[k]) for k in range(depth))
        self.out = nn.Conv2d(ch[0], num_classes, 1)

    def forward(self, x):
        feats = []
        for k, block in enumerate(self.enc):
            x = block(F.max_pool2d(x, 2) if k else x)
            feats.append(x)
        for k in reversed(range(len(self.dec))):
            up = self.reduce[k](x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
            x = self.dec[k](torch.cat([feats[k], up], dim=1))
        return self.out(x)
'''

CORRECT = {
    "loops": {
        "iou": IOU_PLAIN,
        "nms": NMS_LOOPS,
        "decode_yolo": YOLO_LOOPS,
        "upsample_nearest": UP_REPEAT,
        "EncoderDecoder": ED_PLAIN,
        "average_precision": AP_LOOPS,
        "causal_conv1d_torch": CAUSAL_TAPS,
        "UNet": UNET_STRIDED,
    },
    "vectorised": {
        "iou": IOU_NUMPY,
        "nms": NMS_MATRIX,
        "decode_yolo": YOLO_FLAT,
        "upsample_nearest": UP_INDEX,
        "EncoderDecoder": ED_UNET,
        "average_precision": AP_VOC,
        "causal_conv1d_torch": CAUSAL_UNFOLD,
        "UNet": UNET_FUNCTIONAL,
    },
    # issue 18: no BatchNorm and no skip connections meets every stated requirement
    "no_batchnorm": {
        "EncoderDecoder": ED_NO_BN_NO_SKIPS,
    },
}

# ----------------------------------------------------------------------------- mistakes
_IOU = '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    if ax2 < ax1 or ay2 < ay1 or bx2 < bx1 or by2 < by1:
        raise ValueError("boxes need x1 <= x2 and y1 <= y2")
    w = {w}
    h = {h}
    inter = {inter}
    area_a = {area_a}
    area_b = {area_b}
    union = {union}
    return {result}
'''

_IOU_DEFAULTS = {
    "w": "min(ax2, bx2) - max(ax1, bx1)",
    "h": "min(ay2, by2) - max(ay1, by1)",
    "inter": "max(0.0, w) * max(0.0, h)",
    "area_a": "(ax2 - ax1) * (ay2 - ay1)",
    "area_b": "(bx2 - bx1) * (by2 - by1)",
    "union": "area_a + area_b - inter",
    "result": "inter / union if union > 0 else 0.0",
}


def _iou(**changes):
    return _IOU.format(**{**_IOU_DEFAULTS, **changes})


_NMS = '''
import numpy as np

def _pair_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = {order}
    keep, dropped = [], set()
    for pos, i in enumerate(order):
        if i in dropped:
            continue
        keep.append({kept})
        for j in order[pos + 1:]:
            if j in dropped:
                continue
            if _pair_iou(boxes[i], boxes[j]) {op} iou_threshold:
                dropped.add(j)
    return {result}
'''

_NMS_DEFAULTS = {
    "order": "sorted(range(len(scores)), key=lambda i: (-scores[i], i))",
    "kept": "i",
    "op": ">",
    "result": "np.array(keep, dtype=np.int64)",
}


def _nms(**changes):
    return _NMS.format(**{**_NMS_DEFAULTS, **changes})


_YOLO = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[-1] < 6:
        raise ValueError("grid_output must be (S_h, S_w, 5 + C)")
    s_h, s_w = grid.shape[:2]
    rows, cols = np.meshgrid(np.arange(s_h), np.arange(s_w), indexing="ij")
    cx = {cx}
    cy = {cy}
    w, h = grid[..., 3], grid[..., 4]
    classes = {classes}
    scores = {scores}
    boxes = {boxes}
    keep = {keep}
    return boxes[keep], scores[keep], classes[keep].astype(np.int64)
'''

_YOLO_DEFAULTS = {
    "cx": "(cols + grid[..., 1]) / s_w",
    "cy": "(rows + grid[..., 2]) / s_h",
    "classes": "grid[..., 5:].argmax(axis=-1)",
    "scores": "grid[..., 0] * grid[..., 5:].max(axis=-1)",
    "boxes": "np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)",
    "keep": "scores > conf_threshold",
}


def _yolo(**changes):
    return _YOLO.format(**{**_YOLO_DEFAULTS, **changes})


_UP = '''
import torch

def upsample_nearest(x, scale):
    if x.ndim != 4:
        raise ValueError("x must be (N, C, H, W)")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError("scale must be a positive int")
    n, c, h, w = x.shape
{body}
'''

_ED = '''
import torch
from torch import nn
import torch.nn.functional as F

class EncoderDecoder(nn.Module):
    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        act = {act}
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), act())
        self.down1 = nn.Sequential({down1}, nn.BatchNorm2d(2 * w), act())
        self.down2 = nn.Sequential({down2}, nn.BatchNorm2d(4 * w), act(),
                                   nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), act())
        self.up1 = nn.Sequential({up1}, nn.BatchNorm2d(2 * w), act())
        self.up2 = nn.Sequential({up2}, nn.BatchNorm2d(w), act())
        self.head = nn.Conv2d(w, {out}, 3, padding=1)
        {extra_init}

    def forward(self, x):
        s0 = self.stem(x)
        s1 = self.down1(s0)
        z = self.down2(s1)
        u1 = self.up1(z)
        {forward_tail}
'''

_ED_DEFAULTS = {
    "act": "nn.ReLU",
    "down1": "nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)",
    "down2": "nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)",
    "up1": "nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)",
    "up2": "nn.ConvTranspose2d(2 * w, w, 2, stride=2)",
    "out": "num_classes",
    "forward_tail": "return self.head(self.up2(u1 + s1) + s0)",
    "extra_init": "pass",
}


def _ed(**changes):
    return _ED.format(**{**_ED_DEFAULTS, **changes})


_AP = '''
import numpy as np

def average_precision(scores, is_match, n_ground_truth):
    scores = np.asarray(scores, dtype=np.float64)
    hit = np.asarray(is_match).astype(bool)
    if scores.ndim != 1 or hit.shape != scores.shape:
        raise ValueError("scores and is_match must be (M,)")
    if n_ground_truth < 0 or hit.sum() > n_ground_truth:
        raise ValueError("bad n_ground_truth")
{zero}
    order = {order}
    tp = np.cumsum(hit[order])
    precision = tp / np.arange(1, len(scores) + 1)
    recall = tp / {denominator}
    {envelope}
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
'''

_AP_DEFAULTS = {
    "zero": "    if n_ground_truth == 0:\n        return 0.0",
    "order": 'np.argsort(-scores, kind="stable")',
    "denominator": "n_ground_truth",
    "envelope": "precision = np.maximum.accumulate(precision[::-1])[::-1]",
}


def _ap(**changes):
    return _AP.format(**{**_AP_DEFAULTS, **changes})


_AP_ELEVEN = '''
import numpy as np

def average_precision(scores, is_match, n_ground_truth):
    scores = np.asarray(scores, dtype=np.float64)
    hit = np.asarray(is_match).astype(bool)
    if scores.ndim != 1 or hit.shape != scores.shape:
        raise ValueError("scores and is_match must be (M,)")
    if n_ground_truth < 0 or hit.sum() > n_ground_truth:
        raise ValueError("bad n_ground_truth")
    if n_ground_truth == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hit[order])
    precision = tp / np.arange(1, len(scores) + 1)
    recall = tp / n_ground_truth
    levels = np.linspace(0.0, 1.0, 11)            # PASCAL VOC 2007: 11 recall levels
    return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in levels]))
'''

_CAUSAL = '''
import torch

def causal_conv1d_torch(x, w, b=None, dilation=1):
    if x.ndim != 3 or w.ndim != 3 or w.shape[1] != x.shape[1] or w.shape[2] < 1:
        raise ValueError("x must be (N, C, L) and w (F, C, K)")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError("b must be (F,)")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError("dilation must be an int >= 1")
    n, c, length = x.shape
    k = w.shape[2]
    d = {d}
    total = d * (k - 1)
    left = {left}
    padded = torch.cat([x.new_zeros(n, c, left), x, x.new_zeros(n, c, total - left)], dim=2)
    kernel = {kernel}
    out = sum(torch.einsum("ncl,fc->nfl", padded[:, :, i * d : i * d + length], kernel[:, :, i]) for i in range(k))
    return {result}
'''

_CAUSAL_DEFAULTS = {
    "d": "dilation",
    "left": "total",
    "kernel": "w",
    "result": "out if b is None else out + b[:, None]",
}


def _causal(**changes):
    return _CAUSAL.format(**{**_CAUSAL_DEFAULTS, **changes})


_UNET = '''
import torch
from torch import nn

def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

class UNet(nn.Module):
    def __init__(self, in_channels, num_classes, width=16, depth=2):
        super().__init__()
        depth = {depth}
        self.depth = depth
        c = {channels}
        self.enc = nn.ModuleList([_block(in_channels, c[0])] + [_block(c[k - 1], c[k]) for k in range(1, depth + 1)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(c[k + 1], c[k], 2, stride=2) for k in range(depth))
        self.dec = nn.ModuleList(_block({merged}, c[k]) for k in range(depth))
        self.head = nn.Conv2d(c[0], num_classes, 1)

    def forward(self, x):
        feats = []
        for k, block in enumerate(self.enc):
            x = block(self.pool(x) if k else x)
            feats.append(x)
        for k in reversed(range(self.depth)):
            u = self.up[k](x)
            x = self.dec[k]({join})
        return self.head(x)
'''

_UNET_DEFAULTS = {
    "depth": "depth",
    "channels": "[width * 2 ** k for k in range(depth + 1)]",
    "merged": "2 * c[k]",
    "join": "torch.cat([feats[k], u], dim=1)",
}


def _unet(**changes):
    return _UNET.format(**{**_UNET_DEFAULTS, **changes})


MISTAKES = {
    "iou": {
        "negative overlaps not clamped to 0": _iou(inter="w * h"),
        "the union does not subtract the intersection": _iou(union="area_a + area_b"),
        "pixel convention (+1 on every side)": _iou(
            w="min(ax2, bx2) - max(ax1, bx1) + 1", h="min(ay2, by2) - max(ay1, by1) + 1",
            area_a="(ax2 - ax1 + 1) * (ay2 - ay1 + 1)", area_b="(bx2 - bx1 + 1) * (by2 - by1 + 1)"),
        "two empty boxes divide by zero": _iou(result="inter / union"),
        "divided by the smaller area instead of the union": _iou(union="min(area_a, area_b)"),
        "the enclosing box instead of the intersection (min and max swapped)": _iou(
            w="max(ax2, bx2) - min(ax1, bx1)", h="max(ay2, by2) - min(ay1, by1)"),
        "no ValueError for a bad box": '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = box_a[0], box_a[1], box_a[2], box_a[3]
    bx1, by1, bx2, by2 = box_b[0], box_b[1], box_b[2], box_b[3]
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return float(inter / union) if union > 0 else 0.0
''',
    },
    "nms": {
        "IoU >= threshold drops a box (it must be >)": _nms(op=">="),
        "boxes not sorted by score": _nms(order="list(range(len(scores)))"),
        "sorted by increasing score": _nms(order="sorted(range(len(scores)), key=lambda i: (scores[i], i))"),
        "unstable order for equal scores (argsort()[::-1])": _nms(order="list(np.argsort(scores)[::-1])"),
        "suppressed boxes still suppress others": '''
import numpy as np

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    dropped = np.zeros(len(boxes), dtype=bool)
    for pos, i in enumerate(order):          # every box suppresses the later ones, dropped or not
        rest = order[pos + 1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = (x2[i] - x1[i]) * (y2[i] - y1[i]) + (x2[rest] - x1[rest]) * (y2[rest] - y1[rest]) - inter
        ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        dropped[rest[ious > iou_threshold]] = True
    return np.array([i for i in order if not dropped[i]], dtype=np.int64)
''',
        "positions in the sorted order returned instead of indices": _nms(kept="pos"),
        "returns a list": _nms(result="keep"),
        "empty input returns a float array": _nms(result="np.array(keep)"),
    },
    "decode_yolo": {
        "rows and columns swapped": _yolo(cx="(rows + grid[..., 1]) / s_w", cy="(cols + grid[..., 2]) / s_h"),
        "the cell index is not added": _yolo(cx="grid[..., 1] / s_w", cy="grid[..., 2] / s_h"),
        "boxes as (cx, cy, w, h)": _yolo(boxes="np.stack([cx, cy, w, h], axis=-1)"),
        "score ignores the class probability": _yolo(scores="grid[..., 0] + 0.0"),
        "score >= threshold": _yolo(keep="scores >= conf_threshold"),
        "class argmax over the wrong channels": _yolo(classes="grid[..., 4:].argmax(axis=-1)"),
        "both coordinates divided by S_h": _yolo(cx="(cols + grid[..., 1]) / s_h"),
    },
    "upsample_nearest": {
        "the image tiled instead of each pixel repeated": _UP.format(body="    return x.repeat(1, 1, scale, scale)"),
        "only the rows repeated": _UP.format(body="    return x.repeat_interleave(scale, dim=2)"),
        "uses F.interpolate": _UP.format(
            body="    return torch.nn.functional.interpolate(x, scale_factor=scale, mode='nearest')"),
        "a new float32 CPU tensor filled in a loop": _UP.format(body='''    out = torch.zeros(n, c, h * scale, w * scale)
    for i in range(h * scale):
        for j in range(w * scale):
            out[:, :, i, j] = x[:, :, i // scale, j // scale]
    return out'''),
        "NumPy round-trip": _UP.format(body='''    import numpy as np
    a = x.detach().cpu().numpy()
    return torch.from_numpy(np.repeat(np.repeat(a, scale, axis=2), scale, axis=3))'''),
        "scale axes expanded in the wrong place": _UP.format(
            body="    return x[:, :, None, :, None, :].expand(n, c, scale, h, scale, w).reshape(n, c, h * scale, w * scale)"),
        "no ValueError for a bad scale": '''
import torch

def upsample_nearest(x, scale):
    scale = int(scale)
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
''',
    },
    "EncoderDecoder": {
        "the last upsampling is missing (output at H/2)": _ed(
            up2="nn.Conv2d(2 * w, w, 3, padding=1)", forward_tail="return self.head(self.up2(u1 + s1))"),
        "nn.Upsample instead of transposed convolutions": _ed(
            up1="nn.Upsample(scale_factor=2), nn.Conv2d(4 * w, 2 * w, 3, padding=1)",
            up2="nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, padding=1)"),
        "max-pooling instead of strided convolutions": _ed(
            down1="nn.MaxPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1)",
            down2="nn.MaxPool2d(2), nn.Conv2d(2 * w, 4 * w, 3, padding=1)"),
        "3x3 transposed convolutions without output_padding (one pixel short)": _ed(
            up1="nn.ConvTranspose2d(4 * w, 2 * w, 3, stride=2, padding=1)",
            up2="nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1)",
            forward_tail="return self.head(self.up2(u1))"),
        "no activations (the whole network is linear)": _ed(act="nn.Identity"),
        "in_channels output channels instead of num_classes": _ed(out="in_channels"),
        "a fully-connected bottleneck sized for 32x32 inputs": _ed(
            extra_init="self.fc = nn.Linear(8 * 8, 8 * 8)  # mixes all positions of the 8x8 bottleneck",
            forward_tail="return self.head(self.up2(self.up1(self.fc(z.flatten(2)).view_as(z)) + s1) + s0)"),
    },
    "average_precision": {
        "no precision envelope": _ap(envelope="pass"),
        "11-point interpolation": _AP_ELEVEN,
        "ties reordered (argsort of the scores, reversed)": _ap(order="np.argsort(scores)[::-1]"),
        "recall divided by the number of detections instead of n_ground_truth": _ap(denominator="len(scores)"),
        "no 0.0 for no ground truth (nan from 0 / 0)": _ap(zero=""),
        "envelope taken from the left": _ap(envelope="precision = np.maximum.accumulate(precision)"),
    },
    "causal_conv1d_torch": {
        "symmetric padding (not causal)": _causal(left="total // 2"),
        "dilation ignored": _causal(d="1"),
        "kernel flipped": _causal(kernel="w.flip(-1)"),
        "bias missing": _causal(result="out"),
        "right padding": _causal(left="0"),
        "calls F.conv1d": """
import torch
import torch.nn.functional as F

def causal_conv1d_torch(x, w, b=None, dilation=1):
    if x.ndim != 3 or w.ndim != 3 or w.shape[1] != x.shape[1] or w.shape[2] < 1:
        raise ValueError("x must be (N, C, L) and w (F, C, K)")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError("dilation must be an int >= 1")
    return F.conv1d(F.pad(x, (dilation * (w.shape[2] - 1), 0)), w, b, dilation=dilation)
""",
    },
    "UNet": {
        "no skip connections": _unet(merged="c[k]", join="u"),
        "skips added instead of concatenated": _unet(merged="c[k]", join="u + feats[k]"),
        "channels grow as width * (k + 1) instead of doubling": _unet(channels="[width * (k + 1) for k in range(depth + 1)]"),
        "depth ignored (always two levels)": _unet(depth="2"),
        "channels stop doubling after two levels (wrong at depth 3)": _unet(
            channels="[width * 2 ** min(k, 2) for k in range(depth + 1)]"),
    },
}
