//! The store's operations under its policy: look up customers, orders and products; cancel,
//! modify, return and exchange orders; change a customer's address. Each is a typed async method
//! of [`Retail`]; each write loads what it needs, applies [`rules`] and saves in one transaction.
//!
//! This layer knows nothing of agents, tools or channels: who may call an operation, and with
//! which confirmation, is decided above it.

pub mod calculate;
mod error;
pub mod rules;

pub use error::RetailError;

use crate::store::model::{Address, Order, Product, User, Variant};
use crate::store::{Store, WriteTx};
use rules::Catalog;

/// The store's operations, over one [`Store`].
#[derive(Debug, Clone)]
pub struct Retail {
    store: Store,
    /// Whether writes are only rehearsed: checked against the store's records and rules in a
    /// transaction that is then rolled back.
    rehearsal: bool,
}

impl Retail {
    /// The operations of `store`.
    pub fn new(store: Store) -> Retail {
        Retail {
            store,
            rehearsal: false,
        }
    }

    /// The operations of `store`, whose writes are only rehearsed: each answers what it would do
    /// (or why it cannot), and changes nothing.
    pub fn rehearsal(store: Store) -> Retail {
        Retail {
            store,
            rehearsal: true,
        }
    }

    /// Commits `tx`, unless this is a rehearsal (then it is dropped: rolled back).
    async fn finish(&self, tx: WriteTx) -> Result<(), RetailError> {
        if !self.rehearsal {
            tx.commit().await?;
        }
        Ok(())
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The user id of the customer with this email (case does not matter).
    pub async fn find_user_id_by_email(&self, email: &str) -> Result<String, RetailError> {
        self.store
            .find_user_by_email(email)
            .await?
            .ok_or(RetailError::UserNotFound)
    }

    /// The user id of the customer with this first and last name (case does not matter) and zip.
    pub async fn find_user_id_by_name_zip(
        &self,
        first_name: &str,
        last_name: &str,
        zip: &str,
    ) -> Result<String, RetailError> {
        self.store
            .find_user_by_name_zip(first_name, last_name, zip)
            .await?
            .ok_or(RetailError::UserNotFound)
    }

    /// A customer's profile, payment methods and order ids.
    pub async fn user_details(&self, user_id: &str) -> Result<User, RetailError> {
        self.store
            .user(user_id)
            .await?
            .ok_or(RetailError::UserNotFound)
    }

    /// An order's details.
    pub async fn order_details(&self, order_id: &str) -> Result<Order, RetailError> {
        self.store
            .order(order_id)
            .await?
            .ok_or(RetailError::OrderNotFound)
    }

    /// A product and all its variants.
    pub async fn product_details(&self, product_id: &str) -> Result<Product, RetailError> {
        self.store
            .product(product_id)
            .await?
            .map(Product::public)
            .ok_or(RetailError::ProductNotFound)
    }

    /// A variant item, by item id.
    pub async fn item_details(&self, item_id: &str) -> Result<Variant, RetailError> {
        self.store
            .item(item_id)
            .await?
            .map(Variant::public)
            .ok_or(RetailError::ItemNotFound)
    }

    /// Every product's name and id, by name.
    pub async fn product_types(&self) -> Result<Vec<(String, String)>, RetailError> {
        Ok(self.store.product_types().await?)
    }

    /// Cancels a pending order for one of the accepted reasons and refunds it.
    pub async fn cancel_pending_order(
        &self,
        order_id: &str,
        reason: &str,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, user, _| {
            rules::cancel(order, user, reason)
        })
        .await
    }

    /// Changes the shipping address of a pending order.
    pub async fn modify_pending_order_address(
        &self,
        order_id: &str,
        address: Address,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, _, _| {
            rules::modify_order_address(order, address)
        })
        .await
    }

    /// Replaces items of a pending order by other variants of the same products.
    pub async fn modify_pending_order_items(
        &self,
        order_id: &str,
        item_ids: &[String],
        new_item_ids: &[String],
        payment_method_id: &str,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, user, catalog| {
            rules::modify_items(
                order,
                user,
                catalog,
                item_ids,
                new_item_ids,
                payment_method_id,
            )
        })
        .await
    }

    /// Pays a pending order with another of the customer's payment methods.
    pub async fn modify_pending_order_payment(
        &self,
        order_id: &str,
        payment_method_id: &str,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, user, _| {
            rules::modify_payment(order, user, payment_method_id)
        })
        .await
    }

    /// Asks to return items of a delivered order.
    pub async fn return_delivered_order_items(
        &self,
        order_id: &str,
        item_ids: &[String],
        payment_method_id: &str,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, user, _| {
            rules::request_return(order, user, item_ids, payment_method_id)
        })
        .await
    }

    /// Asks to exchange items of a delivered order for other variants of the same products.
    pub async fn exchange_delivered_order_items(
        &self,
        order_id: &str,
        item_ids: &[String],
        new_item_ids: &[String],
        payment_method_id: &str,
    ) -> Result<Order, RetailError> {
        self.update_order(order_id, |order, user, catalog| {
            rules::request_exchange(
                order,
                user,
                catalog,
                item_ids,
                new_item_ids,
                payment_method_id,
            )
        })
        .await
    }

    /// Changes a customer's default address.
    pub async fn modify_user_address(
        &self,
        user_id: &str,
        address: Address,
    ) -> Result<User, RetailError> {
        let mut tx = self.store.write().await?;
        let mut user = tx.user(user_id).await?.ok_or(RetailError::UserNotFound)?;
        user.address = address;
        tx.save_user(&user).await?;
        self.finish(tx).await?;
        Ok(user)
    }

    /// Loads an order, its customer and the products of its items in one write transaction,
    /// applies `change`, and saves both records only if it succeeds.
    async fn update_order(
        &self,
        order_id: &str,
        change: impl FnOnce(&mut Order, &mut User, &Catalog) -> Result<(), RetailError>,
    ) -> Result<Order, RetailError> {
        let mut tx = self.store.write().await?;
        let mut order = tx
            .order(order_id)
            .await?
            .ok_or(RetailError::OrderNotFound)?;
        let mut user = tx
            .user(&order.user_id)
            .await?
            .ok_or(RetailError::UserNotFound)?;
        let catalog = load_catalog(&mut tx, &order).await?;
        change(&mut order, &mut user, &catalog)?;
        tx.save_order(&order).await?;
        tx.save_user(&user).await?;
        self.finish(tx).await?;
        Ok(order)
    }
}

/// The products of an order's items.
async fn load_catalog(tx: &mut WriteTx, order: &Order) -> Result<Catalog, RetailError> {
    let mut catalog = Catalog::new();
    for item in &order.items {
        if !catalog.contains_key(&item.product_id)
            && let Some(product) = tx.product(&item.product_id).await?
        {
            catalog.insert(product.product_id.clone(), product);
        }
    }
    Ok(catalog)
}
