/**
 * Least-squares slope of `ys` against `xs` (units of y per unit of x): the
 * trend of a series of memory samples, which a single first-to-last
 * difference would read from two noisy points only.
 */
export function slopePerX(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error('slopePerX: xs and ys differ in length');
  const n = xs.length;
  if (n < 2) throw new Error('slopePerX: needs at least two points');
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (sxx === 0) throw new Error('slopePerX: all xs are equal');
  return sxy / sxx;
}
