//! `leak queue summary`: pending recipients per destination domain by age of
//! their message, the columns of Postfix's qshape (minutes).

use comfy_table::{presets, CellAlignment, Table};
use std::collections::BTreeMap;

use crate::filter::{DomainShape, AGE_BUCKETS_MINUTES};

/// A table with a `TOTAL` row first, then one row per domain, most pending
/// first (ties in name order).
pub fn summary_table(shape: &BTreeMap<String, DomainShape>) -> String {
    if shape.is_empty() {
        return "no pending recipients\n".to_string();
    }
    let mut header = vec!["DOMAIN".to_string(), "TOTAL".to_string()];
    header.extend(AGE_BUCKETS_MINUTES.iter().map(|m| format!("<{m}m")));
    header.push("OLDER".to_string());
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    let mut total = DomainShape::default();
    for row in shape.values() {
        total.total += row.total;
        for (sum, count) in total.by_age.iter_mut().zip(row.by_age) {
            *sum += count;
        }
    }
    let mut rows: Vec<(&String, &DomainShape)> = shape.iter().collect();
    rows.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
    let label = "TOTAL".to_string();
    for (domain, row) in std::iter::once((&label, &total)).chain(rows) {
        let mut cells = vec![domain.clone(), row.total.to_string()];
        cells.extend(row.by_age.iter().map(usize::to_string));
        table.add_row(cells);
    }
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if index > 0 {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    format!("{}\n", table.to_string().trim_end())
}
