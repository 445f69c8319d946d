//! leak-accounts
