//! Tessellation of UsdGeom's implicit shapes (Cube, Sphere, Cylinder, Cone, Capsule, Plane) into
//! [`super::Mesh`] data. (Stub: being implemented.)
