// The order identified nuclides are reported in (identify/order.ts): by net counts among those beyond doubt, else by confidence and significance.
import t from 'tap';
import { SURE_CONFIDENCE, byEvidence } from '../../analysis/radiation/identify/order.js';

const n = (id: string, confidence: number, significance: number, netCounts: number) => ({ id, confidence, significance, netCounts });

t.test('beyond doubt: the nuclide with most counts first, whatever its significance', async (t) => {
  // The real RadiaCode thorium case: Am-241 filling the low-energy shape at 56 σ, Th-232 at 45 σ with 5× the counts.
  const list = [n('Am241', 1, 56.2, 2_183_928), n('Th232', 1, 45.2, 10_817_445), n('Ra226', 1, 18.5, 6_853_576)].sort(byEvidence);
  t.same(list.map((x) => x.id), ['Th232', 'Ra226', 'Am241']);
});

t.test('a doubtful nuclide never goes before one beyond doubt, and doubtful ones keep confidence order', async (t) => {
  const list = [n('weak-but-big', SURE_CONFIDENCE - 0.01, 40, 1e6), n('sure', 1, 6, 100), n('less', 0.6, 9, 5e5), n('more', 0.9, 5, 10)].sort(byEvidence);
  t.same(list.map((x) => x.id), ['sure', 'weak-but-big', 'more', 'less']);
});

t.test('ties: equal counts fall back to significance; the order does not depend on the input order', async (t) => {
  const a = n('a', 1, 10, 500);
  const b = n('b', 1, 20, 500);
  const c = n('c', 0.7, 8, 50);
  t.same([a, b, c].sort(byEvidence).map((x) => x.id), ['b', 'a', 'c']);
  t.same([c, b, a].sort(byEvidence).map((x) => x.id), ['b', 'a', 'c']);
  t.equal(byEvidence(a, a), 0);
});
