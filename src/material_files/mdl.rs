//! MDL modules' exported materials (being written).
