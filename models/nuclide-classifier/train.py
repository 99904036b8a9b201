#!/usr/bin/python3
"""Trains the nuclide classifier on the simulated spectra of make-dataset.ts and writes model.onnx, model-card.json,
model-card.md, metrics.json and the preprocessing parity fixture the TypeScript test checks.

    /usr/bin/python3 models/nuclide-classifier/train.py [--data models/nuclide-classifier/data] [--epochs 40]

Needs Debian's python3-torch (1.13) and python3-onnx (1.12); CPU only, deterministic for its seed. The
preprocessing here and in edge/inference/nuclide-classifier.ts must stay the same arithmetic: the parity fixture pins it.
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
MAGIC = b'NUCDS001'

# Preprocessing (the model card's "preprocessing" block; classifier.ts implements the same):
N_CHANNELS = 1024      # model grid: 1024 channels of 3 keV from 0 keV
KEV_PER_CHANNEL = 3
BIN_CHANNELS = 4       # summed in groups of 4 -> 256 bins of 12 keV
N_BINS = N_CHANNELS // BIN_CHANNELS
ZERO_BELOW_BIN = 2     # bins under 24 keV are set to 0: the LLD and electronic noise live there on real detectors
LEVEL_DIVISOR = 6.0    # count-level feature log10(T) / 6 (T = 10^6 -> 1)
PREPROCESSING_KIND = 'sqrt-share-v1'
N_FEATURES = N_BINS + 1


def read_dataset(path):
    """Reads a make-dataset.ts file: (header dict, {section name: numpy array})."""
    with open(path, 'rb') as f:
        buf = f.read()
    if buf[:8] != MAGIC:
        raise ValueError(f'{path}: not a nuclide dataset (magic {buf[:8]!r}, expected {MAGIC!r})')
    hlen = int.from_bytes(buf[8:12], 'little')
    header = json.loads(buf[12:12 + hlen].decode('utf8'))
    arrays = {}
    for s in header['sections']:
        dtype = {'float32': np.float32, 'uint8': np.uint8}[s['dtype']]
        count = int(np.prod(s['shape']))
        arrays[s['name']] = np.frombuffer(buf, dtype=dtype, count=count, offset=s['offset']).reshape(s['shape'])
    return header, arrays


def bin_counts(counts):
    """1024 channels -> 256 bins (sums of 4), float64."""
    n = counts.shape[0]
    return counts.astype(np.float64).reshape(n, N_BINS, BIN_CHANNELS).sum(axis=2)


def features(binned):
    """Bins -> model input [n, 257] float32: sqrt of each bin's share of the total, scaled to unit RMS, then the count level."""
    g = binned.copy()
    g[:, :ZERO_BELOW_BIN] = 0.0
    total = g.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    x = np.sqrt(N_BINS * g / safe[:, None])
    level = np.log10(np.maximum(total, 1.0)) / LEVEL_DIVISOR
    return np.concatenate([x, level[:, None]], axis=1).astype(np.float32)


class Net(nn.Module):
    """An MLP: the reference BLAS of Debian's torch makes convolutions 3-10x slower to train on CPU than dense layers."""

    def __init__(self, n_classes, hidden=(256, 128), dropout=0.1):
        super().__init__()
        layers = []
        width = N_FEATURES
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class WithSigmoid(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, features):
        return torch.sigmoid(self.net(features))


def predict(net, x, batch=4096):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out.append(torch.sigmoid(net(torch.from_numpy(x[i:i + batch]))).numpy())
    return np.concatenate(out, axis=0)


def choose_threshold(probs, labels, max_false_id=0.01):
    """The threshold with the best micro-F1 on validation among those that keep background-only false IDs <= max_false_id."""
    bg = labels.sum(axis=1) == 0
    best = None
    for thr in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = probs >= thr
        far = float(pred[bg].any(axis=1).mean()) if bg.any() else 0.0
        tp = float((pred & (labels == 1)).sum())
        fp = float((pred & (labels == 0)).sum())
        fn = float((~pred & (labels == 1)).sum())
        f1 = 2 * tp / max(1.0, 2 * tp + fp + fn)
        if far <= max_false_id and (best is None or f1 > best[1]):
            best = (float(thr), f1, far)
    if best is None:
        best = (0.95, float('nan'), float('nan'))
    return best


def per_class(probs, labels, thr, classes):
    pred = probs >= thr
    rows = {}
    for k, c in enumerate(classes):
        tp = int((pred[:, k] & (labels[:, k] == 1)).sum())
        fp = int((pred[:, k] & (labels[:, k] == 0)).sum())
        fn = int((~pred[:, k] & (labels[:, k] == 1)).sum())
        rows[c] = {
            'support': int(labels[:, k].sum()),
            'precision': round(tp / (tp + fp), 4) if tp + fp > 0 else None,
            'recall': round(tp / (tp + fn), 4) if tp + fn > 0 else None,
        }
    return rows


def top1(probs, thr):
    """Index of the most probable class, or -1 ('none') when nothing reaches the threshold."""
    k = probs.argmax(axis=1)
    return np.where(probs[np.arange(len(k)), k] >= thr, k, -1)


def evaluate(probs, labels, detector, detectors, thr, classes):
    """Top-1 accuracy on single-source spectra and false identifications on background-only ones (the eval set)."""
    n_src = labels.sum(axis=1)
    src = n_src == 1
    bg = n_src == 0
    truth = labels.argmax(axis=1)
    t1 = top1(probs, thr)
    pred = probs >= thr
    out = {
        'sourceSpectra': int(src.sum()),
        'top1Accuracy': round(float((t1[src] == truth[src]).mean()), 4),
        'withFalseNuclide': round(float((pred[src] & (labels[src] == 0)).any(axis=1).mean()), 4),
        'backgroundSpectra': int(bg.sum()),
        'backgroundFalseIdRate': round(float(pred[bg].any(axis=1).mean()), 4),
        'byDetector': {},
        'byNuclide': {},
    }
    for d, name in enumerate(detectors):
        m = detector == d
        if (m & src).any():
            out['byDetector'][name] = {
                'spectra': int((m & src).sum()),
                'top1Accuracy': round(float((t1[m & src] == truth[m & src]).mean()), 4),
                'backgroundFalseIdRate': round(float(pred[m & bg].any(axis=1).mean()), 4) if (m & bg).any() else None,
            }
    for k, c in enumerate(classes):
        m = src & (truth == k)
        if m.any():
            wrong = t1[m][t1[m] != k]
            confused = {}
            for w in wrong:
                name = 'none' if w < 0 else classes[w]
                confused[name] = confused.get(name, 0) + 1
            out['byNuclide'][c] = {'spectra': int(m.sum()), 'top1Accuracy': round(float((t1[m] == k).mean()), 4), 'confusedWith': confused}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=os.path.join(HERE, 'data'))
    ap.add_argument('--out', default=HERE)
    ap.add_argument('--fixture', default=os.path.join(ROOT, 'test', 'fixtures', 'nuclide-classifier-parity.json'))
    ap.add_argument('--epochs', type=int, default=40)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--hidden', default='256,128')
    ap.add_argument('--dropout', type=float, default=0.1)
    ap.add_argument('--val-fraction', type=float, default=0.1)
    ap.add_argument('--thin', type=float, default=0.5, help='share of training spectra binomially thinned each epoch')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()

    header, arrays = read_dataset(os.path.join(args.data, 'train.bin'))
    classes = header['classes']
    detectors = header['detectors']
    if header['grid'] != {'nChannels': N_CHANNELS, 'keVPerChannel': KEV_PER_CHANNEL}:
        raise ValueError(f"dataset grid {header['grid']} is not the model grid {N_CHANNELS} x {KEV_PER_CHANNEL} keV")
    binned = bin_counts(arrays['counts'])
    labels = arrays['labels'].astype(np.float32)
    n = binned.shape[0]
    n_val = int(round(n * args.val_fraction))
    tr, va = slice(0, n - n_val), slice(n - n_val, n)
    x_val = features(binned[va])
    y_val = labels[va]
    print(f'train {n - n_val}, validation {n_val}, {len(classes)} classes, read in {time.time() - t_start:.1f} s', flush=True)

    hidden = tuple(int(h) for h in args.hidden.split(','))
    net = Net(len(classes), hidden, args.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil((n - n_val) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15)
    loss_fn = nn.BCEWithLogitsLoss()
    history = []
    g_tr = binned[tr]
    y_tr = torch.from_numpy(labels[tr])
    t_train = time.time()
    for epoch in range(args.epochs):
        # Binomial thinning of Poisson counts is Poisson again: each epoch sees some spectra as if counted for a
        # fraction of the time, so the net meets more count levels than the file holds.
        g = g_tr.copy()
        sel = rng.random(g.shape[0]) < args.thin
        p = rng.uniform(0.15, 1.0, size=int(sel.sum()))
        g[sel] = rng.binomial(g[sel].astype(np.int64), p[:, None]).astype(np.float64)
        x = torch.from_numpy(features(g))
        perm = torch.from_numpy(rng.permutation(x.shape[0]))
        net.train()
        total = 0.0
        for i in range(0, x.shape[0], args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        pv = predict(net, x_val)
        val_loss = float(nn.functional.binary_cross_entropy(torch.from_numpy(pv), torch.from_numpy(y_val)))
        history.append({'epoch': epoch + 1, 'trainLoss': round(total / x.shape[0], 5), 'valLoss': round(val_loss, 5)})
        print(f'epoch {epoch + 1}/{args.epochs} train {total / x.shape[0]:.4f} val {val_loss:.4f} ({time.time() - t_train:.0f} s)', flush=True)
    train_s = time.time() - t_train

    probs_val = predict(net, x_val)
    thr, f1, far = choose_threshold(probs_val, y_val)
    print(f'threshold {thr} (validation micro-F1 {f1:.3f}, background false-ID {far:.4f})', flush=True)

    eh, ea = read_dataset(os.path.join(args.data, 'eval.bin'))
    if eh['classes'] != classes:
        raise ValueError('eval.bin classes differ from train.bin classes')
    x_eval = features(bin_counts(ea['counts']))
    probs_eval = predict(net, x_eval)
    ev = evaluate(probs_eval, ea['labels'].astype(np.float32), ea['detector'], detectors, thr, classes)
    print(f"eval: top-1 at 5,000 net counts {ev['top1Accuracy']:.4f} on {ev['sourceSpectra']}, background false-ID {ev['backgroundFalseIdRate']:.4f} on {ev['backgroundSpectra']}", flush=True)

    # Export: sigmoid inside the graph so the runtime reads probabilities.
    onnx_path = os.path.join(args.out, 'model.onnx')
    export = WithSigmoid(net).eval()
    torch.onnx.export(
        export,
        torch.zeros(1, N_FEATURES),
        onnx_path,
        input_names=['features'],
        output_names=['probabilities'],
        dynamic_axes={'features': {0: 'batch'}, 'probabilities': {0: 'batch'}},
        opset_version=13,
        do_constant_folding=True,
    )
    import onnx
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    opset = max(o.version for o in m.opset_import if o.domain in ('', 'ai.onnx'))
    model_bytes = os.path.getsize(onnx_path)
    n_params = sum(p.numel() for p in net.parameters())

    card = {
        'name': 'nuclide-classifier',
        'version': 1,
        'model': 'model.onnx',
        'opset': opset,
        'input': {'name': 'features', 'dtype': 'float32', 'shape': ['batch', N_FEATURES]},
        'output': {'name': 'probabilities', 'dtype': 'float32', 'shape': ['batch', len(classes)], 'activation': 'sigmoid'},
        'classes': classes,
        'preprocessing': {
            'kind': PREPROCESSING_KIND,
            'nChannels': N_CHANNELS,
            'keVPerChannel': KEV_PER_CHANNEL,
            'binChannels': BIN_CHANNELS,
            'bins': N_BINS,
            'zeroBelowBin': ZERO_BELOW_BIN,
            'levelDivisor': LEVEL_DIVISOR,
            'description': 'Rebin the spectrum onto 1024 channels of 3 keV from 0 keV (count-preserving; a 1024 x 3 keV spectrum is taken as is), '
                           'sum groups of 4 channels into 256 bins g (12 keV each), set g[0] = g[1] = 0 (below 24 keV), T = sum(g); '
                           'features[b] = sqrt(256 * g[b] / T) for b < 256 (all 0 when T = 0), features[256] = log10(max(T, 1)) / 6; float32.',
        },
        'threshold': thr,
        'training': {
            'dataset': {k: header[k] for k in ('n', 'seed', 'detectors', 'grid')},
            'distribution': header.get('distribution'),
            'validationFraction': args.val_fraction,
            'epochs': args.epochs,
            'batch': args.batch,
            'lr': args.lr,
            'hidden': list(hidden),
            'dropout': args.dropout,
            'thinning': args.thin,
            'seed': args.seed,
            'parameters': n_params,
            'torch': torch.__version__,
            'onnx': onnx.__version__,
        },
    }
    metrics = {
        'threshold': thr,
        'thresholdRule': 'best micro-F1 on the validation split with background-only false identifications <= 1 %',
        'trainingTime_s': round(train_s, 1),
        'totalTime_s': round(time.time() - t_start, 1),
        'modelBytes': model_bytes,
        'datasetBytes': os.path.getsize(os.path.join(args.data, 'train.bin')),
        'parameters': n_params,
        'validation': {
            'spectra': int(n_val),
            'microF1': round(f1, 4),
            'backgroundFalseIdRate': round(far, 4),
            'perClass': per_class(probs_val, y_val, thr, classes),
        },
        'eval5000': {'protocol': eh.get('protocol'), 'seed': eh.get('seed'), 'outOfReachCells': eh.get('outOfReach'), **ev},
        'history': history,
    }
    with open(os.path.join(args.out, 'model-card.json'), 'w') as f:
        json.dump(card, f, indent=2)
        f.write('\n')
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
        f.write('\n')
    write_card_md(os.path.join(args.out, 'model-card.md'), card, metrics)

    # Parity fixture: a few eval spectra (raw 1024-channel counts), their features and the torch probabilities.
    pick = []
    for want in ('NaI-2x2', 'NaI-2x4x16'):
        d = detectors.index(want)
        src_rows = np.where((ea['detector'] == d) & (ea['labels'].sum(axis=1) == 1))[0]
        bg_rows = np.where((ea['detector'] == d) & (ea['labels'].sum(axis=1) == 0))[0]
        pick += [int(src_rows[len(src_rows) // 3]), int(bg_rows[-1])]
    fx = {
        'note': 'Written by models/nuclide-classifier/train.py: raw counts of eval.bin spectra, the features train.py computed and the probabilities of the torch model before export.',
        'spectra': [
            {
                'detector': detectors[int(ea['detector'][i])],
                'labels': [classes[k] for k in np.where(ea['labels'][i] == 1)[0]],
                'counts': [int(c) for c in ea['counts'][i]],
                'features': [float(v) for v in x_eval[i]],
                'probabilities': [float(v) for v in probs_eval[i]],
            }
            for i in pick
        ],
    }
    os.makedirs(os.path.dirname(args.fixture), exist_ok=True)
    with open(args.fixture, 'w') as f:
        json.dump(fx, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {onnx_path} ({model_bytes} bytes, {n_params} parameters, opset {opset}), training {train_s:.0f} s', flush=True)


def fmt(v):
    return '-' if v is None else f'{v:.3f}'


def write_card_md(path, card, metrics):
    ev = metrics['eval5000']
    val = metrics['validation']
    p = card['preprocessing']
    lines = [
        '# Nuclide classifier (model card)',
        '',
        'A small multi-label classifier of gamma spectra from NaI(Tl) detectors: which library nuclides (analysis/radiation/nuclides.ts) a',
        'spectrum holds over the natural background. It runs beside the template-fit identifier (analysis/radiation/identify.ts) through',
        'onnxruntime-node (edge/inference/nuclide-classifier.ts). Generated by train.py; the numbers below are from metrics.json of the same run.',
        '',
        '## Files',
        '- `model.onnx`: the network with the sigmoid inside (ONNX opset %d, %d parameters, %d bytes).' % (card['opset'], metrics['parameters'], metrics['modelBytes']),
        '- `model-card.json`: this card in machine form; classifier.ts checks the model against it at load.',
        '- `metrics.json`: every figure below and the training history. `simulate.ts`, `make-dataset.ts`, `train.py`: how it was made.',
        '',
        '## Regenerate',
        '```',
        'npx tsx models/nuclide-classifier/make-dataset.ts   # data/train.bin (%d spectra, %.0f MiB, not committed) and data/eval.bin'
        % (card['training']['dataset']['n'], metrics['datasetBytes'] / 2 ** 20),
        '/usr/bin/python3 models/nuclide-classifier/train.py # this folder\'s model.onnx, cards, metrics.json; test/fixtures/nuclide-classifier-parity.json',
        '```',
        'Both are deterministic for their seeds (torch on CPU; a different BLAS may change the last digits of the weights).',
        '',
        '## Input',
        '- `%s`: %s %s.' % (card['input']['name'], card['input']['dtype'], card['input']['shape']),
        '- Preprocessing (`%s`): %s' % (p['kind'], p['description']),
        '- Why: the square root of the counts has a Poisson noise of the same size in every bin, and dividing by the total makes the',
        '  shape independent of counting time; the count level goes in separately because how much a peak of a given share means',
        '  depends on how many counts are behind it.',
        '',
        '## Output',
        '- `%s`: %s %s, %s per class (independent probabilities, several nuclides can be present).' % (
            card['output']['name'], card['output']['dtype'], card['output']['shape'], card['output']['activation']),
        '- Classes, in output order: %s.' % ', '.join(card['classes']),
        '- Background is implicit: a spectrum with no class at or above the threshold (%.2f) is background only.' % card['threshold'],
        '  The threshold is the best micro-F1 on the validation split that keeps background-only false identifications at or under 1 %.',
        '',
        '## Training data',
        '- %d spectra from models/nuclide-classifier/simulate.ts (seed %d): the project simulator (sim/scene.ts, sim/natural.ts, dose.ts),'
        % (card['training']['dataset']['n'], card['training']['dataset']['seed']),
        '  %s with their resolution scaled by 0.9, 1 or 1.12; soil K 1-3 %%, U 1-4.5 ppm, Th 4-14 ppm at 0.7-1.5 m, background scaled' % ', '.join(card['training']['dataset']['detectors']),
        '  0.8-1.2; residual gain error 0.975-1.025; %d %% background only, %d %% one source, %d %% two; net counts 300-80,000 and source'
        % tuple(round(100 * card['training']['distribution']['fractions'][k]) for k in ('backgroundOnly', 'single', 'pair')),
        '  over background 0.01-30 (log-uniform; live time 0.2-3,600 s follows); distance 0.5-8 m; bare (40 %), steel 0.5-8 cm,',
        '  lead 0.2-2.5 cm, concrete 2-20 cm, water 5-30 cm, or steel plus lead (simulate.ts TRAINING_DISTRIBUTION, also in',
        '  model-card.json under training.distribution).',
        '- Limits of that simulator carry over: uncollided source lines only (no scatter build-up in shields), face-on response, no',
        '  x-ray escape peaks, no detector-specific artefacts. Measured spectra will differ; see "Not covered".',
        '- Training: %d epochs, batch %d, AdamW with one-cycle lr %.0e, %s hidden units, dropout %.1f; each epoch %d %% of the spectra'
        % (card['training']['epochs'], card['training']['batch'], card['training']['lr'], '-'.join(str(h) for h in card['training']['hidden']),
           card['training']['dropout'], round(card['training']['thinning'] * 100)),
        '  are binomially thinned (as if counted for 15-100 %% of the time). %d %% held out for validation. CPU, %.0f s.'
        % (round(card['training']['validationFraction'] * 100), metrics['trainingTime_s']),
        '',
        '## Metrics',
        '',
        'Evaluation set (eval.bin, seed %s, not used in training): %s. %s cells out of reach (S/B < 1 %%) are not scored.' % (ev['seed'], ev['protocol'], ev['outOfReachCells']),
        '',
        '| figure | value |',
        '| --- | ---: |',
        '| top-1 accuracy, single nuclide at 5,000 net counts (%d spectra) | %.3f |' % (ev['sourceSpectra'], ev['top1Accuracy']),
        '| source spectra with a nuclide reported that is not there | %.3f |' % ev['withFalseNuclide'],
        '| false identification rate, background only (%d spectra) | %.3f |' % (ev['backgroundSpectra'], ev['backgroundFalseIdRate']),
    ]
    for d, v in ev['byDetector'].items():
        lines.append('| %s: top-1 accuracy / background false-ID | %.3f / %s |' % (d, v['top1Accuracy'], fmt(v['backgroundFalseIdRate'])))
    lines += [
        '| validation micro-F1 (all spectra, threshold %.2f) | %.3f |' % (metrics['threshold'], val['microF1']),
        '',
        'Per nuclide: top-1 accuracy on the evaluation set, precision and recall on the validation split (any count level, single and pairs).',
        '',
        '| nuclide | eval spectra | top-1 | confused with | val support | precision | recall |',
        '| --- | ---: | ---: | --- | ---: | ---: | ---: |',
    ]
    for c in card['classes']:
        e = ev['byNuclide'].get(c)
        pc = val['perClass'][c]
        conf = ', '.join(f'{k} {v}' for k, v in sorted(e['confusedWith'].items(), key=lambda kv: -kv[1])) if e else ''
        lines.append('| %s | %s | %s | %s | %d | %s | %s |' % (
            c, e['spectra'] if e else 0, fmt(e['top1Accuracy']) if e else '-', conf, pc['support'], fmt(pc['precision']), fmt(pc['recall'])))
    lines += [
        '',
        '## Not covered',
        '- Detectors other than NaI of the trained sizes, other channel grids far from 3 keV (the input is rebinned, but the resolution',
        '  the net learned is NaI\'s), gain errors beyond 2.5 % (run the gain stabiliser first), heavily shielded sources whose',
        '  scattered continuum dominates, three or more nuclides, and sources not in the library (they come out as the nearest class or',
        '  nothing). NORM classes (K40, Ra226, Th232, U238) mean an excess over the soil range trained on, not their mere presence.',
        '- The confidence is the network\'s sigmoid output, not a calibrated probability; the template fit (identify.ts) gives',
        '  activities, significances and shielding, this model only names nuclides.',
        '',
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


if __name__ == '__main__':
    main()
