#!/usr/bin/python3
"""Trains the camera node's small people/bag detector on synthetic arrival-hall frames and exports it to ONNX.

Data: `customs-edge camera dataset --out DIR` writes DIR/images.u8 (N x 3 x H x W uint8) and DIR/labels.json.
Output: model.onnx in the 'yolov8' layout the edge detect module decodes ([1, 4+nc, N]: cx, cy, w, h in input
pixels, then per-class sigmoid scores), metrics.json (AP@0.5 per class on a held-out set) and model-card.json.

    /usr/bin/python3 models/camera-detector/train.py --train /tmp/cam/train --val /tmp/cam/val --minutes 8
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE = 8


def load(dir_):
    meta = json.load(open(os.path.join(dir_, 'labels.json')))
    h, w = meta['height'], meta['width']
    imgs = np.fromfile(os.path.join(dir_, 'images.u8'), dtype=np.uint8).reshape(-1, 3, h, w)
    return imgs, meta['labels'], meta['classes'], (h, w)


def block(cin, cout, stride=1, dil=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dil, dilation=dil, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class TinyDet(nn.Module):
    """Stride-8 anchor-free detector; dilated convolutions widen the receptive field to a whole person."""

    def __init__(self, nc, h, w):
        super().__init__()
        self.nc = nc
        self.body = nn.Sequential(
            block(3, 16, 2), block(16, 32, 2), block(32, 48, 2), block(48, 48),
            block(48, 48, dil=2), block(48, 48, dil=4),
        )
        self.head = nn.Conv2d(48, 4 + nc, 1)
        gh, gw = h // STRIDE, w // STRIDE
        gy, gx = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing='ij')
        self.register_buffer('gx', gx.reshape(1, -1))
        self.register_buffer('gy', gy.reshape(1, -1))

    def raw(self, x):
        y = self.head(self.body(x))  # B, 4+nc, gh, gw
        return y.flatten(2)  # B, 4+nc, N

    @staticmethod
    def boxes(r, gx, gy):
        cx = (gx + 0.5 + 3.0 * (torch.sigmoid(r[:, 0]) - 0.5)) * STRIDE
        cy = (gy + 0.5 + 3.0 * (torch.sigmoid(r[:, 1]) - 0.5)) * STRIDE
        w = torch.exp(r[:, 2].clamp(-3, 4)) * STRIDE * 2
        h = torch.exp(r[:, 3].clamp(-3, 4)) * STRIDE * 2
        return cx, cy, w, h

    def forward(self, x):
        r = self.raw(x)
        cx, cy, w, h = self.boxes(r, self.gx, self.gy)
        scores = torch.sigmoid(r[:, 4:])
        return torch.cat([torch.stack([cx, cy, w, h], 1), scores], 1)


def targets(labels, nc, gh, gw):
    """Per cell: class target, box target (x1,y1,x2,y2), positive mask. Cells near a box centre are positives;
    a cell claimed by two boxes goes to the smaller one."""
    cls_t = np.zeros((nc, gh * gw), np.float32)
    box_t = np.zeros((4, gh * gw), np.float32)
    pos = np.zeros(gh * gw, bool)
    owner_area = np.full(gh * gw, np.inf)
    for c, x1, y1, x2, y2 in labels:
        c = int(c)
        bw, bh = x2 - x1, y2 - y1
        if bw < 2 or bh < 2:
            continue
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        r = 1.0  # cells within one cell of the centre, inside the box
        for gy in range(max(0, int((cy - r * STRIDE) // STRIDE)), min(gh, int((cy + r * STRIDE) // STRIDE) + 1)):
            for gx in range(max(0, int((cx - r * STRIDE) // STRIDE)), min(gw, int((cx + r * STRIDE) // STRIDE) + 1)):
                px, py = (gx + 0.5) * STRIDE, (gy + 0.5) * STRIDE
                if abs(px - cx) > max(r * STRIDE, 0.5 * STRIDE) or abs(py - cy) > max(r * STRIDE, 0.5 * STRIDE):
                    continue
                if not (x1 <= px <= x2 and y1 <= py <= y2) and not (int(cx // STRIDE) == gx and int(cy // STRIDE) == gy):
                    continue
                i = gy * gw + gx
                a = bw * bh
                if a < owner_area[i]:
                    owner_area[i] = a
                    cls_t[:, i] = 0
                    cls_t[c, i] = 1
                    box_t[:, i] = (x1, y1, x2, y2)
                    pos[i] = True
    return cls_t, box_t, pos


def giou_loss(p, t):
    ix1, iy1 = torch.max(p[0], t[0]), torch.max(p[1], t[1])
    ix2, iy2 = torch.min(p[2], t[2]), torch.min(p[3], t[3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[2] - p[0]) * (p[3] - p[1])
    at = (t[2] - t[0]) * (t[3] - t[1])
    union = ap + at - inter + 1e-6
    iou = inter / union
    cx1, cy1 = torch.min(p[0], t[0]), torch.min(p[1], t[1])
    cx2, cy2 = torch.max(p[2], t[2]), torch.max(p[3], t[3])
    c = (cx2 - cx1) * (cy2 - cy1) + 1e-6
    return (1 - iou + (c - union) / c).mean(), iou


def nms_np(boxes, scores, thr):
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        a = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
        b = (boxes[order[1:], 2] - boxes[order[1:], 0]) * (boxes[order[1:], 3] - boxes[order[1:], 1])
        order = order[1:][inter / (a + b - inter + 1e-9) <= thr]
    return keep


def iou_np(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def evaluate(model, imgs, labels, classes, score_thr=0.05, iou_thr=0.5):
    """AP@0.5 per class (all-point interpolation), and precision/recall at score 0.5."""
    model.eval()
    dets = {c: [] for c in range(len(classes))}
    npos = {c: 0 for c in range(len(classes))}
    at_half = {c: [0, 0] for c in range(len(classes))}  # tp, fp at score >= 0.5
    with torch.no_grad():
        for s in range(0, len(imgs), 32):
            out = model(torch.from_numpy(imgs[s:s + 32].astype(np.float32) / 255.0)).numpy()
            for k in range(out.shape[0]):
                lab = labels[s + k]
                o = out[k]
                for c in range(len(classes)):
                    gt = [l[1:] for l in lab if int(l[0]) == c]
                    npos[c] += len(gt)
                    sc = o[4 + c]
                    m = sc >= score_thr
                    if not m.any():
                        continue
                    cx, cy, w, h = o[0][m], o[1][m], o[2][m], o[3][m]
                    b = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
                    keep = nms_np(b, sc[m], 0.5)
                    used = set()
                    for i in keep:
                        best, bj = 0.0, -1
                        for j, g in enumerate(gt):
                            v = iou_np(b[i], g)
                            if v > best and j not in used:
                                best, bj = v, j
                        tp = best >= iou_thr
                        if tp:
                            used.add(bj)
                        dets[c].append((float(sc[m][i]), tp))
                        if sc[m][i] >= 0.5:
                            at_half[c][0 if tp else 1] += 1
    res = {}
    for c, name in enumerate(classes):
        d = sorted(dets[c], key=lambda x: -x[0])
        tp = np.cumsum([1 if x[1] else 0 for x in d]) if d else np.zeros(0)
        fp = np.cumsum([0 if x[1] else 1 for x in d]) if d else np.zeros(0)
        rec = tp / max(1, npos[c])
        prec = tp / np.maximum(1, tp + fp)
        mrec = np.concatenate([[0], rec, [1]])
        mpre = np.concatenate([[1], prec, [0]])
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        idx = np.where(mrec[1:] != mrec[:-1])[0]
        ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
        t5, f5 = at_half[c]
        res[name] = {'ap50': round(ap, 4), 'precision_at_0.5': round(t5 / max(1, t5 + f5), 4), 'recall_at_0.5': round(t5 / max(1, npos[c]), 4), 'instances': npos[c]}
    res['mAP50'] = round(float(np.mean([res[n]['ap50'] for n in classes])), 4)
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--train', required=True)
    ap.add_argument('--val', required=True)
    ap.add_argument('--out', default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument('--minutes', type=float, default=8.0)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    imgs, labels, classes, (H, W) = load(a.train)
    vimgs, vlabels, _, _ = load(a.val)
    nc = len(classes)
    gh, gw = H // STRIDE, W // STRIDE
    tg = [targets(l, nc, gh, gw) for l in labels]
    tg_flip = [targets([[c, W - x2, y1, W - x1, y2] for c, x1, y1, x2, y2 in l], nc, gh, gw) for l in labels]
    model = TinyDet(nc, H, W)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    budget = a.minutes * 60
    t0 = time.time()
    step = 0
    log = []
    while time.time() - t0 < budget:
        idx = np.random.randint(0, len(imgs), a.batch)
        flip = np.random.rand(a.batch) < 0.5
        x = imgs[idx].astype(np.float32) / 255.0
        x[flip] = x[flip][..., ::-1]
        # Lighting and white-balance jitter: real halls are not the renderer's exact grey.
        x = x * np.random.uniform(0.75, 1.25, (a.batch, 1, 1, 1)).astype(np.float32) + np.random.uniform(-0.08, 0.08, (a.batch, 3, 1, 1)).astype(np.float32)
        x = np.clip(x, 0, 1)
        t = [tg_flip[i] if f else tg[i] for i, f in zip(idx, flip)]
        cls_t = torch.from_numpy(np.stack([q[0] for q in t]))
        box_t = torch.from_numpy(np.stack([q[1] for q in t]))
        pos = torch.from_numpy(np.stack([q[2] for q in t]))
        frac = (time.time() - t0) / budget
        for g in opt.param_groups:
            g['lr'] = 3e-3 * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        r = model.raw(torch.from_numpy(np.ascontiguousarray(x)))
        logits = r[:, 4:]
        # Focal-weighted BCE: most cells are floor.
        p = torch.sigmoid(logits)
        bce = F.binary_cross_entropy_with_logits(logits, cls_t, reduction='none')
        w = torch.where(cls_t > 0, 0.75 * (1 - p) ** 2, 0.25 * p ** 2)
        npos = pos.sum().clamp(min=1)
        l_cls = (bce * w).sum() / npos
        cx, cy, bw, bh = TinyDet.boxes(r, model.gx, model.gy)
        pb = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)  # B,4,N
        if pos.any():
            pp = pb.permute(1, 0, 2)[:, pos]
            tt = box_t.permute(1, 0, 2)[:, pos]
            l_box, _ = giou_loss(pp, tt)
        else:
            l_box = torch.zeros(())
        loss = l_cls + 2.0 * l_box
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.append({'step': step, 's': round(time.time() - t0), 'loss': round(float(loss), 4), 'cls': round(float(l_cls), 4), 'box': round(float(l_box), 4)})
            print(json.dumps(log[-1]), flush=True)
    m = evaluate(model, vimgs, vlabels, classes)
    print(json.dumps(m), flush=True)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 3, H, W), os.path.join(a.out, 'model.onnx'), input_names=['images'], output_names=['output0'], opset_version=12)
    metrics = {
        'validation': m,
        'validation_frames': int(len(vimgs)),
        'train_frames': int(len(imgs)),
        'steps': step,
        'batch': a.batch,
        'train_seconds': round(time.time() - t0),
        'threads': a.threads,
        'loss_log': log[-10:],
    }
    json.dump(metrics, open(os.path.join(a.out, 'metrics.json'), 'w'), indent=2)
    card = {
        'name': 'camera-people-bags-synthetic',
        'version': 1,
        'task': 'detect',
        'model': 'model.onnx',
        'description': 'Tiny stride-8 anchor-free detector trained on synthetic arrival-hall frames (customs-edge camera dataset). A stand-in: replace with a production model by writing its card.',
        'input': {'name': 'images', 'shape': [1, 3, H, W], 'dtype': 'float32', 'layout': 'NCHW',
                  'normalise': {'scale': 1 / 255, 'mean': [0, 0, 0], 'std': [1, 1, 1]}, 'letterbox': True, 'padValue': 114, 'channels': ['r', 'g', 'b']},
        'output': {'name': 'output0', 'format': 'yolov8', 'coordinates': 'pixels'},
        'classes': list(classes),
        'thresholds': {'score': 0.4, 'iou': 0.5},
        'maxDetections': 100,
        'metrics': {'mAP50': m['mAP50'], **{c: m[c] for c in classes}},
        'training': {'script': 'models/camera-detector/train.py', 'data': 'synthetic (analysis/vision/scene.ts randomScenario)', 'train_frames': int(len(imgs)), 'steps': step, 'seconds': metrics['train_seconds']},
    }
    json.dump(card, open(os.path.join(a.out, 'model-card.json'), 'w'), indent=2)


if __name__ == '__main__':
    main()
