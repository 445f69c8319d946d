//! leak-moderation
