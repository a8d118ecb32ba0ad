//! Dates: numeric ones ([`numeric`]), with a month's name ([`months`]), and the birth cues
//! and years that make one a birth date ([`birth`]).

pub(super) mod birth;
pub(super) mod months;
pub(super) mod numeric;
