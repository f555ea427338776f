//! The catalog's product vectors: each product's name and option values embedded with the
//! sentence model, kept beside the tantivy index (`vectors.bin`) under the same stamp, and the
//! nearest products to a query's vector by a scan (a few milliseconds for tens of thousands of
//! products). A rebuild embeds only the products whose text changed.

use super::SearchError;
use crate::embed::{DIM, Embedder, MODEL_NAME, dot};
use crate::store::CatalogStamp;
use crate::store::model::Product;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// The file in the index folder.
const FILE: &str = "vectors.bin";
/// The file's first bytes.
const MAGIC: &[u8; 8] = b"CLERKV01";
/// Characters of a product's text embedded at most.
const MAX_TEXT: usize = 400;

/// What the file's header records.
#[derive(Serialize, Deserialize)]
struct Header {
    model: String,
    stamp: CatalogStamp,
    ids: Vec<String>,
    /// A hash of each product's text, so that a rebuild reuses unchanged vectors.
    hashes: Vec<u64>,
}

/// Unit vectors of a catalog's products, in one matrix.
pub struct ProductVectors {
    stamp: CatalogStamp,
    ids: Vec<String>,
    hashes: Vec<u64>,
    data: Vec<f32>,
}

/// What a product is, in words, for the sentence model: its name, then each option's values
/// ("Water Bottle. capacity: 500ml, 750ml. material: glass, stainless steel.").
pub fn product_text(product: &Product) -> String {
    let mut options: indexmap::IndexMap<&str, Vec<&str>> = indexmap::IndexMap::new();
    for variant in product.variants.values() {
        for (name, value) in &variant.options {
            let values = options.entry(name.as_str()).or_default();
            if !values.contains(&value.as_str()) {
                values.push(value.as_str());
            }
        }
    }
    let mut text = product.name.clone();
    for (name, values) in options {
        text.push_str(&format!(". {name}: {}", values.join(", ")));
    }
    text.chars().take(MAX_TEXT).collect()
}

impl ProductVectors {
    /// What the vectors were computed from.
    pub fn stamp(&self) -> CatalogStamp {
        self.stamp
    }

    /// How many products have a vector.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no product has a vector.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Embeds `products`, reusing the vectors of `previous` whose product text is unchanged.
    pub fn build(
        products: &[Product],
        stamp: CatalogStamp,
        embedder: &Embedder,
        previous: Option<&ProductVectors>,
    ) -> Result<ProductVectors, SearchError> {
        let texts: Vec<String> = products.iter().map(product_text).collect();
        let known: HashMap<u64, usize> = previous
            .map(|p| p.hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect())
            .unwrap_or_default();
        let (hashes, fresh) = embedder.embed_new(&texts, |key| known.contains_key(&key))?;
        let mut data = Vec::with_capacity(products.len() * DIM);
        for (i, h) in hashes.iter().enumerate() {
            match (fresh.get(&i), known.get(h), previous) {
                (Some(vector), _, _) => data.extend_from_slice(vector),
                (None, Some(&j), Some(previous)) => data.extend_from_slice(previous.row(j)),
                _ => unreachable!("every product's vector is fresh or known"),
            }
        }
        Ok(ProductVectors {
            stamp,
            ids: products.iter().map(|p| p.product_id.clone()).collect(),
            hashes,
            data,
        })
    }

    /// Vectors given whole (`data`: one row of [`DIM`] values per id), as a benchmark builds a
    /// catalog too large to embed.
    pub fn from_parts(stamp: CatalogStamp, ids: Vec<String>, data: Vec<f32>) -> ProductVectors {
        assert_eq!(ids.len() * DIM, data.len(), "one row per id");
        ProductVectors {
            stamp,
            hashes: vec![0; ids.len()],
            ids,
            data,
        }
    }

    /// The vector of one product.
    pub fn vector_of(&self, product_id: &str) -> Option<&[f32]> {
        let i = self.ids.iter().position(|id| id == product_id)?;
        Some(self.row(i))
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * DIM..(i + 1) * DIM]
    }

    /// The products whose vector is at least `min_similarity` from `query`, most similar first,
    /// at most `k`.
    pub fn nearest(&self, query: &[f32], k: usize, min_similarity: f32) -> Vec<(String, f32)> {
        let mut scored: Vec<(usize, f32)> = (0..self.ids.len())
            .map(|i| (i, dot(self.row(i), query)))
            .filter(|(_, s)| *s >= min_similarity)
            .collect();
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k && k > 0 {
            scored.select_nth_unstable_by(k - 1, order);
            scored.truncate(k);
        }
        scored.sort_by(order);
        scored
            .into_iter()
            .take(k)
            .map(|(i, s)| (self.ids[i].clone(), s))
            .collect()
    }

    /// Writes the vectors into the index folder (a new file renamed over the old one).
    pub fn save(&self, dir: &Path) -> Result<(), SearchError> {
        let folder = |source| SearchError::Folder {
            path: dir.to_owned(),
            source,
        };
        let header = serde_json::to_vec(&Header {
            model: MODEL_NAME.to_owned(),
            stamp: self.stamp,
            ids: self.ids.clone(),
            hashes: self.hashes.clone(),
        })
        .expect("the header serialises");
        let partial = dir.join(format!("{FILE}.partial"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(folder)?);
        file.write_all(MAGIC).map_err(folder)?;
        file.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(folder)?;
        file.write_all(&header).map_err(folder)?;
        for value in &self.data {
            file.write_all(&value.to_le_bytes()).map_err(folder)?;
        }
        file.into_inner()
            .map_err(|e| folder(e.into_error()))?
            .sync_all()
            .map_err(folder)?;
        std::fs::rename(&partial, dir.join(FILE)).map_err(folder)
    }

    /// Reads the vectors saved in the index folder; `None` when there are none, or they are of
    /// another model or damaged (they are then computed again).
    pub fn load(dir: &Path) -> Option<ProductVectors> {
        let mut file = std::io::BufReader::new(std::fs::File::open(dir.join(FILE)).ok()?);
        let mut magic = [0u8; 8];
        file.read_exact(&mut magic).ok()?;
        if &magic != MAGIC {
            return None;
        }
        let mut length = [0u8; 8];
        file.read_exact(&mut length).ok()?;
        let mut header = vec![0u8; usize::try_from(u64::from_le_bytes(length)).ok()?];
        file.read_exact(&mut header).ok()?;
        let header: Header = serde_json::from_slice(&header).ok()?;
        if header.model != MODEL_NAME || header.ids.len() != header.hashes.len() {
            return None;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        if bytes.len() != header.ids.len() * DIM * 4 {
            return None;
        }
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Some(ProductVectors {
            stamp: header.stamp,
            ids: header.ids,
            hashes: header.hashes,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Cents;
    use crate::store::model::Variant;

    #[test]
    fn a_product_reads_as_its_name_and_option_values_once_each() {
        let variant = |id: &str, size: &str, color: &str| Variant {
            item_id: id.into(),
            options: [("size", size), ("color", color)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            available: true,
            price: Cents(1000),
            stock: None,
            lead_time_days: None,
        };
        let product = Product {
            name: "T-Shirt".into(),
            product_id: "1".into(),
            variants: [
                variant("a", "S", "red"),
                variant("b", "M", "red"),
                variant("c", "S", "blue"),
            ]
            .into_iter()
            .map(|v| (v.item_id.clone(), v))
            .collect(),
        };
        assert_eq!(
            product_text(&product),
            "T-Shirt. size: S, M. color: red, blue"
        );
    }

    #[test]
    fn saved_vectors_load_back_and_a_damaged_file_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0.0; 2 * DIM];
        data[0] = 1.0;
        data[DIM + 1] = 1.0;
        let vectors = ProductVectors {
            stamp: CatalogStamp {
                store_id: 7,
                catalog_version: 3,
            },
            ids: vec!["p1".into(), "p2".into()],
            hashes: vec![1, 2],
            data,
        };
        vectors.save(dir.path()).unwrap();
        let loaded = ProductVectors::load(dir.path()).unwrap();
        assert_eq!(loaded.stamp(), vectors.stamp());
        let mut query = vec![0.0; DIM];
        query[1] = 0.9;
        query[0] = 0.1;
        assert_eq!(
            loaded.nearest(&query, 5, 0.05),
            vec![("p2".to_owned(), 0.9), ("p1".to_owned(), 0.1)]
        );
        assert_eq!(loaded.nearest(&query, 5, 0.5).len(), 1);
        let path = dir.path().join(FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(ProductVectors::load(dir.path()).is_none());
    }
}
