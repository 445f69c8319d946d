//! Unit tests of the PDF rebuild, on documents built with lopdf.
