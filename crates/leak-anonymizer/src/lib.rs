//! leak-anonymizer
