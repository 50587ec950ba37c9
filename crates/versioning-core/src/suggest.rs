//! "Did you mean …?": the one helper every error that names a likely typo uses, in the
//! manifest, the policies and the frontends' configuration files.

/// The distance between `a` and `b` in edits of one character (insert, delete, replace, or
/// swap two neighbours: the optimal string alignment distance), so that `auto_ptach` is one
/// edit from `auto_patch`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: the distance between the first i chars of a and the first j of b.
    let mut rows = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// The candidate nearest to `word`, when near enough to be a likely typo: within a third of
/// its length in edits (case aside, one edit at least), or `word` with a suffix (`token` for
/// `token_env`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let lower = candidate.to_ascii_lowercase();
            let distance = edit_distance(&word, &lower);
            let near = distance <= (candidate.chars().count() / 3).max(1)
                || (word.len() >= 4 && lower.starts_with(&word));
            near.then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_near_and_other_words_are_not() {
        assert_eq!(edit_distance("auto_ptach", "auto_patch"), 1);
        assert_eq!(edit_distance("servces", "services"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let keys = ["interval", "jitter", "token_env"];
        assert_eq!(closest("intervall", keys), Some("interval"));
        assert_eq!(closest("Jiter", keys), Some("jitter"));
        assert_eq!(closest("token", keys), Some("token_env"));
        assert_eq!(closest("database", keys), None);
    }
}
