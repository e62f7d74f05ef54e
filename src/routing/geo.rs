//! Great-circle distances and the nearest store to a shared location. Pure functions.
//!
//! Coordinates are decimal degrees (WGS 84, as WhatsApp shares them). A latitude outside
//! [-90, 90], a longitude outside [-180, 180] or a non-finite number is rejected: it never
//! matches a store.

use std::collections::BTreeMap;

use crate::routing::StoreLocation;
use crate::store::ContactRecord;

/// The mean Earth radius (IUGG), kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The contact field holding the latitude of the last location the customer shared.
pub const LOCATION_LAT_FIELD: &str = "location_lat";
/// The contact field holding the longitude of the last location the customer shared.
pub const LOCATION_LON_FIELD: &str = "location_lon";

/// The great-circle distance between two points, in kilometres (haversine formula).
///
/// Pure arithmetic: it does not validate its input (a NaN in gives NaN out); see
/// [`valid_coordinates`].
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    // Rounding can push `a` a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// True for a finite latitude in [-90, 90] and a finite longitude in [-180, 180].
pub fn valid_coordinates(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// The store nearest to (`lat`, `lon`), however far, with its id and distance in km.
///
/// `None` when the point is invalid or no store has valid coordinates. Ties go to the first
/// store in id order.
pub fn nearest<'a>(
    stores: &'a BTreeMap<String, StoreLocation>,
    lat: f64,
    lon: f64,
) -> Option<(&'a str, &'a StoreLocation, f64)> {
    if !valid_coordinates(lat, lon) {
        return None;
    }
    let mut best: Option<(&'a str, &'a StoreLocation, f64)> = None;
    for (id, store) in stores {
        if !valid_coordinates(store.latitude, store.longitude) {
            continue;
        }
        let km = haversine_km(lat, lon, store.latitude, store.longitude);
        if best.is_none_or(|(_, _, best_km)| km < best_km) {
            best = Some((id.as_str(), store, km));
        }
    }
    best
}

/// The store nearest to (`lat`, `lon`) if it is within `max_km` (inclusive), with its id and
/// distance in km. `None` for an invalid point, an invalid or negative radius, or no store
/// close enough.
pub fn nearest_store(
    stores: &BTreeMap<String, StoreLocation>,
    lat: f64,
    lon: f64,
    max_km: f64,
) -> Option<(&str, &StoreLocation, f64)> {
    if !max_km.is_finite() || max_km < 0.0 {
        return None;
    }
    nearest(stores, lat, lon).filter(|&(_, _, km)| km <= max_km)
}

/// The location the customer last shared, from the contact's `location_lat` and
/// `location_lon` fields.
///
/// `Ok(None)` when neither field is set; `Err` (with a short reason) when only one is set,
/// either does not parse as a number, or the point is out of range.
pub fn contact_location(contact: &ContactRecord) -> Result<Option<(f64, f64)>, String> {
    let lat = contact.fields.get(LOCATION_LAT_FIELD);
    let lon = contact.fields.get(LOCATION_LON_FIELD);
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => {
            let parse = |s: &str| s.trim().parse::<f64>().ok();
            match (parse(lat), parse(lon)) {
                (Some(lat), Some(lon)) if valid_coordinates(lat, lon) => Ok(Some((lat, lon))),
                _ => Err(format!("invalid coordinates ({lat}, {lon})")),
            }
        }
        _ => Err("latitude or longitude missing".to_string()),
    }
}
