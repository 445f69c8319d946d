//! leak-delivery
