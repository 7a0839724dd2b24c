//! UsdGeom's velocity motion: points and PointInstancer positions and orientations between their
//! samples are extrapolated from the sample at or before the time with the `velocities`,
//! `accelerations` and `angularVelocities` authored at that same sample (as
//! `UsdGeomPointBased::ComputePointsAtTime` and `UsdGeomPointInstancer` do, and Storm draws),
//! instead of being interpolated. Rates are per second: the time step is divided by the stage's
//! timeCodesPerSecond.

use glam::{DQuat, DVec3};
use openusd::usd::{self, TimeCode};

use super::values;

/// The sample a value at `time` is extrapolated from, and how many seconds past it `time` is;
/// `None` when `rate` has no sample at that time (the value is then read as usual).
fn motion(prim: &usd::Prim, value: &str, rate: &str, time: f64) -> Option<(f64, f64)> {
    // Nothing moves at the default time.
    values::at(time)?;
    if !prim.attribute(rate).has_authored_value().unwrap_or(false) {
        return None;
    }
    let samples = prim.attribute(value).time_sample_times().ok()?;
    let first = *samples.first()?;
    let sample = samples.iter().copied().rfind(|&s| s <= time).unwrap_or(first);
    let rates = prim.attribute(rate).time_sample_times().ok()?;
    if !rates.contains(&sample) {
        return None;
    }
    let tcps = prim.stage().time_codes_per_second();
    let tcps = if tcps.is_finite() && tcps > 0.0 { tcps } else { 24.0 };
    Some((sample, (time - sample) / tcps))
}

/// `positions` (`points` or `positions`) at `time` moved by `velocities` and `accelerations`;
/// `None` when there is no velocity motion to apply.
pub fn positions(prim: &usd::Prim, name: &str, time: f64) -> Option<Vec<[f64; 3]>> {
    let (sample, dt) = motion(prim, name, "velocities", time)?;
    let at = Some(TimeCode::new(sample));
    let read = |n: &str| values::raw(prim, n, at).as_ref().and_then(values::as_dvec3_array);
    let positions = read(name)?;
    let velocities = read("velocities").filter(|v| v.len() == positions.len())?;
    let accelerations = prim
        .attribute("accelerations")
        .time_sample_times()
        .ok()
        .filter(|t| t.contains(&sample))
        .and_then(|_| read("accelerations"))
        .filter(|a| a.len() == positions.len());
    Some(
        positions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut q = DVec3::from(*p) + DVec3::from(velocities[i]) * dt;
                if let Some(a) = &accelerations {
                    q += DVec3::from(a[i]) * (0.5 * dt * dt);
                }
                q.to_array()
            })
            .collect(),
    )
}

/// `orientations` at `time` turned by `angularVelocities` (degrees per second about their
/// axis); `None` when there is no angular motion to apply.
pub fn orientations(prim: &usd::Prim, name: &str, time: f64) -> Option<Vec<DQuat>> {
    let (sample, dt) = motion(prim, name, "angularVelocities", time)?;
    let at = Some(TimeCode::new(sample));
    let quats = values::raw(prim, name, at).as_ref().and_then(values::as_quat_array)?;
    let spins = values::raw(prim, "angularVelocities", at)
        .as_ref()
        .and_then(values::as_dvec3_array)
        .filter(|w| w.len() == quats.len())?;
    Some(
        quats
            .iter()
            .zip(&spins)
            .map(|(q, w)| {
                let w = DVec3::from(*w);
                let angle = (w.length() * dt).to_radians();
                match w.try_normalize() {
                    Some(axis) if angle != 0.0 => DQuat::from_axis_angle(axis, angle) * *q,
                    _ => *q,
                }
            })
            .collect(),
    )
}
