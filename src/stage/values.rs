//! Tolerant reads of USD values: attributes are read as raw `sdf::Value`s and converted here, so a
//! file that stores a value with an unexpected type (double points, int time codes, float
//! metersPerUnit) degrades to a warning or a fallback instead of an error.

use glam::{DMat4, DQuat};
use openusd::sdf::Value;
use openusd::usd::{self, TimeCode};

/// The time at which an attribute is read: `None` is the default time.
pub type Time = Option<TimeCode>;

/// The frame that stands for USD's default time (`UsdTimeCode::Default()`, a NaN in pxr too):
/// extracted and evaluated at it, a stage reads authored defaults and schema fallbacks, never
/// time samples, and nothing is animated.
pub const DEFAULT_TIME: f64 = f64::NAN;

/// The time code of `frame`: the default time for [`DEFAULT_TIME`] (any NaN).
pub fn at(frame: f64) -> Time {
    (!frame.is_nan()).then(|| TimeCode::new(frame))
}

/// Reads the composed raw value of `prim.name` at `time`; `None` when absent, blocked or unreadable.
pub fn raw(prim: &usd::Prim, name: &str, time: Time) -> Option<Value> {
    let attr = prim.attribute(name);
    match attr.get_at::<Value>(time) {
        Ok(Some(Value::ValueBlock)) | Ok(Some(Value::None)) => None,
        Ok(v) => v,
        Err(e) => {
            log::debug!("{}.{name}: {e}", prim.path());
            None
        }
    }
}

pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Double(x) => Some(*x),
        Value::Float(x) => Some(*x as f64),
        Value::Half(x) => Some(x.to_f64()),
        Value::Int(x) => Some(*x as f64),
        Value::Uint(x) => Some(*x as f64),
        Value::Int64(x) => Some(*x as f64),
        Value::Uint64(x) => Some(*x as f64),
        Value::Uchar(x) => Some(*x as f64),
        Value::TimeCode(t) => Some(t.value()),
        // A one-element array where a scalar was expected: take the element.
        Value::DoubleVec(v) if v.len() == 1 => Some(v[0]),
        Value::FloatVec(v) if v.len() == 1 => Some(v[0] as f64),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        _ => None,
    }
}

pub fn as_token(v: &Value) -> Option<String> {
    match v {
        Value::Token(t) => Some(t.as_str().to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

pub fn f64_attr(prim: &usd::Prim, name: &str, time: Time) -> Option<f64> {
    raw(prim, name, time).as_ref().and_then(as_f64)
}

pub fn bool_attr(prim: &usd::Prim, name: &str, time: Time) -> Option<bool> {
    raw(prim, name, time).as_ref().and_then(as_bool)
}

pub fn token_attr(prim: &usd::Prim, name: &str, time: Time) -> Option<String> {
    raw(prim, name, time).as_ref().and_then(as_token)
}

/// Any 3-vector array (float, double, half, int) as `f32` triples.
pub fn as_vec3_array(v: &Value) -> Option<Vec<[f32; 3]>> {
    Some(match v {
        Value::Vec3fVec(a) => a.iter().map(|p| [p.x, p.y, p.z]).collect(),
        Value::Vec3dVec(a) => a.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32]).collect(),
        Value::Vec3hVec(a) => a.iter().map(|p| [p.x.to_f32(), p.y.to_f32(), p.z.to_f32()]).collect(),
        Value::Vec3iVec(a) => a.iter().map(|p| [p.x as f32, p.y as f32, p.z as f32]).collect(),
        Value::Vec3f(p) => vec![[p.x, p.y, p.z]],
        Value::Vec3d(p) => vec![[p.x as f32, p.y as f32, p.z as f32]],
        Value::Vec3h(p) => vec![[p.x.to_f32(), p.y.to_f32(), p.z.to_f32()]],
        _ => return None,
    })
}

pub fn vec3_array_attr(prim: &usd::Prim, name: &str, time: Time) -> Option<Vec<[f32; 3]>> {
    raw(prim, name, time).as_ref().and_then(as_vec3_array)
}

/// Any 3-vector array as `f64` triples (PointInstancer positions keep their precision).
pub fn as_dvec3_array(v: &Value) -> Option<Vec<[f64; 3]>> {
    Some(match v {
        Value::Vec3dVec(a) => a.iter().map(|p| [p.x, p.y, p.z]).collect(),
        other => as_vec3_array(other)?.into_iter().map(|p| p.map(|c| c as f64)).collect(),
    })
}

/// Any integer array as `i64`.
pub fn as_int_array(v: &Value) -> Option<Vec<i64>> {
    Some(match v {
        Value::IntVec(a) => a.iter().map(|&x| x as i64).collect(),
        Value::Int64Vec(a) => a.clone(),
        Value::UintVec(a) => a.iter().map(|&x| x as i64).collect(),
        Value::Uint64Vec(a) => a.iter().map(|&x| x.min(i64::MAX as u64) as i64).collect(),
        Value::UcharVec(a) => a.iter().map(|&x| x as i64).collect(),
        _ => return None,
    })
}

pub fn int_array_attr(prim: &usd::Prim, name: &str, time: Time) -> Option<Vec<i64>> {
    raw(prim, name, time).as_ref().and_then(as_int_array)
}

/// Any float array (float, double, half) as `f32`.
pub fn as_float_array(v: &Value) -> Option<Vec<f32>> {
    Some(match v {
        Value::FloatVec(a) => a.clone(),
        Value::DoubleVec(a) => a.iter().map(|&x| x as f32).collect(),
        Value::HalfVec(a) => a.iter().map(|x| x.to_f32()).collect(),
        Value::Float(x) => vec![*x],
        Value::Double(x) => vec![*x as f32],
        _ => return None,
    })
}

/// Any quaternion array, as glam quaternions with their authored components, not normalised:
/// `GfMatrix4d::SetRotate` (behind `UsdGeomPointInstancer::ComputeInstanceTransformsAtTime`) and
/// Storm's instancing shader both build the matrix from the raw components, so a non-unit
/// quaternion also scales (testUsdImagingGLPointInstancer's `pi_pi_varying` authors some).
/// Identity where a component is not finite.
pub fn as_quat_array(v: &Value) -> Option<Vec<DQuat>> {
    let q = |w: f64, x: f64, y: f64, z: f64| {
        let q = DQuat::from_xyzw(x, y, z, w);
        if q.is_finite() {
            q
        } else {
            DQuat::IDENTITY
        }
    };
    Some(match v {
        Value::QuathVec(a) => a
            .iter()
            .map(|r| q(r.w.to_f64(), r.x.to_f64(), r.y.to_f64(), r.z.to_f64()))
            .collect(),
        Value::QuatfVec(a) => a
            .iter()
            .map(|r| q(r.w as f64, r.x as f64, r.y as f64, r.z as f64))
            .collect(),
        Value::QuatdVec(a) => a.iter().map(|r| q(r.w, r.x, r.y, r.z)).collect(),
        _ => return None,
    })
}

/// The rotation matrix of a quaternion as `GfMatrix4d::SetRotate(GfQuatd)` and Storm's
/// `GetRotationMatrix` build it: from the raw components, so a quaternion of length `l` is not
/// renormalised (its matrix turns by a different angle and scales by up to `l^2`).
pub fn quat_matrix(q: DQuat) -> DMat4 {
    let (x, y, z, w) = (q.x, q.y, q.z, q.w);
    DMat4::from_cols(
        glam::DVec4::new(
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + z * w),
            2.0 * (x * z - y * w),
            0.0,
        ),
        glam::DVec4::new(
            2.0 * (x * y - z * w),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + x * w),
            0.0,
        ),
        glam::DVec4::new(
            2.0 * (x * z + y * w),
            2.0 * (y * z - x * w),
            1.0 - 2.0 * (x * x + y * y),
            0.0,
        ),
        glam::DVec4::W,
    )
}

/// Any 2-vector array (texture coordinates) as `f32` pairs; a 3-vector array gives its x and y
/// (some exporters write `texCoord3f`).
pub fn as_vec2_array(v: &Value) -> Option<Vec<[f32; 2]>> {
    Some(match v {
        Value::Vec2fVec(a) => a.iter().map(|p| [p.x, p.y]).collect(),
        Value::Vec2dVec(a) => a.iter().map(|p| [p.x as f32, p.y as f32]).collect(),
        Value::Vec2hVec(a) => a.iter().map(|p| [p.x.to_f32(), p.y.to_f32()]).collect(),
        other => as_vec3_array(other)?.into_iter().map(|p| [p[0], p[1]]).collect(),
    })
}

/// Any scalar or vector value (float, double, half; 1 to 4 components) as an rgba quadruple:
/// missing components are 0, alpha 1; a scalar fills rgb. For shader inputs and fallbacks.
pub fn as_vec4(v: &Value) -> Option<[f32; 4]> {
    let out = match v {
        Value::Vec4f(p) => [p.x, p.y, p.z, p.w],
        Value::Vec4d(p) => [p.x as f32, p.y as f32, p.z as f32, p.w as f32],
        Value::Vec4h(p) => [p.x.to_f32(), p.y.to_f32(), p.z.to_f32(), p.w.to_f32()],
        Value::Vec3f(p) => [p.x, p.y, p.z, 1.0],
        Value::Vec3d(p) => [p.x as f32, p.y as f32, p.z as f32, 1.0],
        Value::Vec3h(p) => [p.x.to_f32(), p.y.to_f32(), p.z.to_f32(), 1.0],
        Value::Vec2f(p) => [p.x, p.y, 0.0, 1.0],
        Value::Vec2d(p) => [p.x as f32, p.y as f32, 0.0, 1.0],
        Value::Vec2h(p) => [p.x.to_f32(), p.y.to_f32(), 0.0, 1.0],
        other => {
            let x = as_f64(other)? as f32;
            [x, x, x, 1.0]
        }
    };
    out.iter().all(|c| c.is_finite()).then_some(out)
}

/// A float2 (clippingRange) as a pair.
pub fn as_vec2(v: &Value) -> Option<(f64, f64)> {
    match v {
        Value::Vec2f(p) => Some((p.x as f64, p.y as f64)),
        Value::Vec2d(p) => Some((p.x, p.y)),
        Value::Vec2h(p) => Some((p.x.to_f64(), p.y.to_f64())),
        _ => None,
    }
}

/// A USD matrix (row vectors, translation in the last row) as a glam matrix (column vectors):
/// the same 16 numbers read in the other order.
pub fn to_dmat4(m: &openusd::gf::Matrix4d) -> DMat4 {
    DMat4::from_cols_array(&m.0)
}

/// Number of elements of any array value (for counting without converting).
pub fn array_len(v: &Value) -> Option<usize> {
    Some(match v {
        Value::Vec3fVec(a) => a.len(),
        Value::Vec3dVec(a) => a.len(),
        Value::Vec3hVec(a) => a.len(),
        Value::Vec3iVec(a) => a.len(),
        Value::IntVec(a) => a.len(),
        Value::Int64Vec(a) => a.len(),
        Value::UintVec(a) => a.len(),
        Value::Uint64Vec(a) => a.len(),
        Value::FloatVec(a) => a.len(),
        Value::DoubleVec(a) => a.len(),
        Value::HalfVec(a) => a.len(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_tolerate_other_numeric_types() {
        assert_eq!(as_f64(&Value::Float(2.5)), Some(2.5));
        assert_eq!(as_f64(&Value::Int(3)), Some(3.0));
        assert_eq!(as_f64(&Value::Double(f64::NAN)), None);
        assert_eq!(as_f64(&Value::String("x".into())), None);
    }

    #[test]
    fn usd_matrix_translation_lands_in_glam_translation() {
        let m = openusd::gf::Matrix4d::translation([1.0, 2.0, 3.0]);
        let g = to_dmat4(&m);
        assert_eq!(g.transform_point3(glam::DVec3::ZERO), glam::DVec3::new(1.0, 2.0, 3.0));
    }
}
