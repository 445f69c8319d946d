//! leak-admin
