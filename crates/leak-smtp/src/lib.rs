//! leak-smtp
