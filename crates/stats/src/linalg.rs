//! The small linear algebra behind least squares: a Householder QR factorisation.
//!
//! Why QR and not the normal equations: solving `X'X b = X'y` squares the condition number of X,
//! which with correlated rating scales (they always are) costs the digits we need to agree with
//! statsmodels to 1e-6. Householder QR works on X itself. Problems here are small (hundreds to
//! thousands of rows, at most a few dozen columns), so plain loops are fast enough.

/// How small a column's part orthogonal to the earlier columns may be, relative to the column's
/// own length, before the column counts as collinear with them. It is the sine of the angle
/// between the column and the span of the earlier ones: 1e-8 means the column is predicted
/// from them with an R² of `1 - 1e-16`, far beyond any real survey.
const COLLINEARITY_TOLERANCE: f64 = 1e-8;

/// The least-squares solution of `y ≈ X b` from a QR factorisation of `X`.
#[derive(Debug, Clone)]
pub(crate) struct LeastSquares {
    /// The coefficients `b`.
    pub coefficients: Vec<f64>,
    /// The residual sum of squares `|y - X b|²`.
    pub residual_sum_of_squares: f64,
    /// `(X'X)⁻¹`, row-major `p × p`: the unscaled covariance of `b`.
    pub inverse_gram: Vec<Vec<f64>>,
}

/// Column `index` of X is (almost) a linear combination of the earlier columns, `involved`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CollinearColumn {
    /// The column that adds nothing new.
    pub index: usize,
    /// The earlier columns it is a combination of.
    pub involved: Vec<usize>,
}

/// Solves `min |y - X b|` by Householder QR. `columns` holds the columns of X, each as long as
/// `y`; there must be more rows than columns.
pub(crate) fn least_squares(
    columns: &[Vec<f64>],
    y: &[f64],
) -> Result<LeastSquares, CollinearColumn> {
    let rows = y.len();
    let p = columns.len();
    debug_assert!(rows > p, "least squares needs more rows than columns");
    // Work on [X | y], column-major, so each reflection updates contiguous memory.
    let mut a: Vec<Vec<f64>> = columns.to_vec();
    a.push(y.to_vec());
    let original_norms: Vec<f64> = columns.iter().map(|c| norm(c)).collect();

    for j in 0..p {
        let alpha = norm(&a[j][j..]);
        if alpha <= COLLINEARITY_TOLERANCE * original_norms[j] || original_norms[j] == 0.0 {
            return Err(CollinearColumn {
                index: j,
                involved: involved_columns(&a, j, &original_norms),
            });
        }
        // Reflect a[j][j..] onto -sign(a_jj) * alpha * e1; choosing the sign away from a_jj
        // avoids cancellation in v0.
        let sign = if a[j][j] >= 0.0 { 1.0 } else { -1.0 };
        let mut v: Vec<f64> = a[j][j..].to_vec();
        v[0] += sign * alpha;
        let v_norm_squared: f64 = v.iter().map(|x| x * x).sum();
        for column in a.iter_mut().skip(j) {
            let dot: f64 = v.iter().zip(&column[j..]).map(|(vi, ci)| vi * ci).sum();
            let factor = 2.0 * dot / v_norm_squared;
            for (ci, vi) in column[j..].iter_mut().zip(&v) {
                *ci -= factor * vi;
            }
        }
        // Exact values for what the reflection zeroes, so R is clean.
        a[j][j] = -sign * alpha;
        for value in &mut a[j][j + 1..] {
            *value = 0.0;
        }
    }

    let r = |i: usize, k: usize| a[k][i];
    let qty = &a[p];
    let coefficients = back_substitute(p, &r, &qty[..p]);
    let residual_sum_of_squares = qty[p..].iter().map(|x| x * x).sum();

    // R⁻¹ column by column (R R⁻¹ = I), then (X'X)⁻¹ = R⁻¹ R⁻ᵀ.
    let mut r_inverse = vec![vec![0.0; p]; p]; // row-major
    for k in 0..p {
        let mut unit = vec![0.0; p];
        unit[k] = 1.0;
        let column = back_substitute(p, &r, &unit);
        for (i, value) in column.into_iter().enumerate() {
            r_inverse[i][k] = value;
        }
    }
    let mut inverse_gram = vec![vec![0.0; p]; p];
    for i in 0..p {
        for k in 0..p {
            inverse_gram[i][k] = (0..p).map(|m| r_inverse[i][m] * r_inverse[k][m]).sum();
        }
    }
    Ok(LeastSquares {
        coefficients,
        residual_sum_of_squares,
        inverse_gram,
    })
}

/// Solves the upper-triangular system `R x = b` (the first `p` rows).
fn back_substitute(p: usize, r: &impl Fn(usize, usize) -> f64, b: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let sum: f64 = (i + 1..p).map(|k| r(i, k) * x[k]).sum();
        x[i] = (b[i] - sum) / r(i, i);
    }
    x
}

/// Which earlier columns a collinear column `j` is made of: regress it on them with the
/// triangle already computed, and keep the ones that carry weight.
fn involved_columns(a: &[Vec<f64>], j: usize, original_norms: &[f64]) -> Vec<usize> {
    if j == 0 || original_norms[j] == 0.0 {
        // A column of zeros is "collinear" with anything; name no partner.
        return Vec::new();
    }
    let r = |i: usize, k: usize| a[k][i];
    let weights = back_substitute(j, &r, &a[j][..j]);
    (0..j)
        .filter(|&i| (weights[i] * original_norms[i]).abs() > 1e-6 * original_norms[j])
        .collect()
}

fn norm(values: &[f64]) -> f64 {
    // Scale first so that squares of large values cannot overflow.
    let scale = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    scale
        * values
            .iter()
            .map(|v| (v / scale).powi(2))
            .sum::<f64>()
            .sqrt()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_solves_a_small_overdetermined_system() {
        // y = 1 + 2x exactly, plus one perturbed point; numpy.linalg.lstsq gives the answer.
        let ones = vec![1.0; 4];
        let x = vec![0.0, 1.0, 2.0, 3.0];
        let y = vec![1.0, 3.0, 5.0, 8.0];
        let fit = least_squares(&[ones, x], &y).unwrap();
        assert!((fit.coefficients[0] - 0.8).abs() < 1e-12);
        assert!((fit.coefficients[1] - 2.3).abs() < 1e-12);
        assert!((fit.residual_sum_of_squares - 0.3).abs() < 1e-12);
        // (X'X)^-1 for X = [1 x]: [[0.7, -0.3], [-0.3, 0.2]]
        assert!((fit.inverse_gram[0][0] - 0.7).abs() < 1e-12);
        assert!((fit.inverse_gram[0][1] + 0.3).abs() < 1e-12);
        assert!((fit.inverse_gram[1][1] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn a_column_that_is_a_combination_of_earlier_ones_is_reported_with_its_partners() {
        let ones = vec![1.0; 5];
        let a = vec![1.0, 2.0, 4.0, 3.0, 5.0];
        let b = vec![2.0, 1.0, 1.0, 5.0, 2.0];
        let c: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 2.0 * x - y + 1.0).collect();
        let y = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let err = least_squares(&[ones, a, b, c], &y).unwrap_err();
        assert_eq!(
            err,
            CollinearColumn {
                index: 3,
                involved: vec![0, 1, 2]
            }
        );
    }
}
