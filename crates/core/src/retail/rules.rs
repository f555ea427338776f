//! The store's rules for changing orders and customers, as pure functions on records: they check
//! everything first and change the records only when the whole operation is allowed. Loading and
//! saving is the caller's ([`super::Retail`]), in one transaction.
//!
//! They follow the tau2-retail reference, except where it is wrong for a real store: each item
//! modified takes its own new variant's price and options (the reference gives every item those of
//! the last one), an order whose payment changed is refunded what each method paid net on
//! cancellation (the reference refunds every history entry, refunds included), and an exchange or
//! return must name at least one item.

use super::RetailError;
use crate::money::Cents;
use crate::store::model::{
    Address, Order, OrderStatus, Payment, PaymentMethod, Product, TransactionType, User,
};
use std::collections::HashMap;

/// The cancellation reasons the policy accepts.
pub const CANCEL_REASONS: [&str; 2] = ["no longer needed", "ordered by mistake"];

/// The catalog entries an operation may need, by product id.
pub type Catalog = HashMap<String, Product>;

fn method<'u>(user: &'u mut User, id: &str) -> Result<&'u mut PaymentMethod, RetailError> {
    user.payment_methods
        .get_mut(id)
        .ok_or(RetailError::PaymentMethodNotFound)
}

fn gift_card_balance(method: &mut PaymentMethod) -> Option<&mut Cents> {
    match method {
        PaymentMethod::GiftCard { balance, .. } => Some(balance),
        _ => None,
    }
}

/// Each id must be in the order at least as many times as it is named.
fn check_items_in_order(order: &Order, item_ids: &[String]) -> Result<(), RetailError> {
    if item_ids.is_empty() {
        return Err(RetailError::NoItems);
    }
    for id in item_ids {
        let wanted = item_ids.iter().filter(|i| *i == id).count();
        let held = order
            .items
            .iter()
            .filter(|item| item.item_id == *id)
            .count();
        if wanted > held {
            return Err(RetailError::ItemNotInOrder(id.clone()));
        }
    }
    Ok(())
}

/// The price difference of replacing each old item by the new one (of the same product), checking
/// that every new item exists and is available.
fn price_difference(
    order: &Order,
    catalog: &Catalog,
    item_ids: &[String],
    new_item_ids: &[String],
    forbid_same: bool,
) -> Result<Cents, RetailError> {
    if item_ids.len() != new_item_ids.len() {
        return Err(RetailError::ItemCountMismatch);
    }
    let mut difference = Cents::ZERO;
    for (old, new) in item_ids.iter().zip(new_item_ids) {
        if forbid_same && old == new {
            return Err(RetailError::SameItem);
        }
        let item = order
            .items
            .iter()
            .find(|item| item.item_id == *old)
            .ok_or_else(|| RetailError::ItemNotInOrder(old.clone()))?;
        let variant = catalog
            .get(&item.product_id)
            .ok_or(RetailError::ProductNotFound)?
            .variants
            .get(new)
            .ok_or(RetailError::VariantNotFound)?;
        if !variant.available {
            return Err(RetailError::ItemUnavailable(new.clone()));
        }
        difference += variant.price - item.price;
    }
    Ok(difference)
}

/// Cancels a pending order and refunds it: gift cards at once, other methods by the payment
/// processor (the refund is recorded in the payment history).
pub fn cancel(order: &mut Order, user: &mut User, reason: &str) -> Result<(), RetailError> {
    if order.status != OrderStatus::Pending {
        return Err(RetailError::NotCancellable);
    }
    if !CANCEL_REASONS.contains(&reason) {
        return Err(RetailError::InvalidCancelReason);
    }
    // What each method paid net, in the order the methods first appear.
    let mut net: Vec<(String, Cents)> = Vec::new();
    for payment in &order.payment_history {
        let signed = match payment.transaction_type {
            TransactionType::Payment => payment.amount,
            TransactionType::Refund => -payment.amount,
        };
        match net
            .iter_mut()
            .find(|(id, _)| *id == payment.payment_method_id)
        {
            Some((_, total)) => *total += signed,
            None => net.push((payment.payment_method_id.clone(), signed)),
        }
    }
    let mut refunds = Vec::new();
    for (id, amount) in net.into_iter().filter(|(_, amount)| *amount > Cents::ZERO) {
        if let Some(balance) = gift_card_balance(method(user, &id)?) {
            *balance += amount;
        }
        refunds.push(Payment {
            transaction_type: TransactionType::Refund,
            amount,
            payment_method_id: id,
        });
    }
    order.status = OrderStatus::Cancelled;
    order.cancel_reason = Some(reason.to_owned());
    order.payment_history.extend(refunds);
    Ok(())
}

/// Changes the shipping address of a pending order.
pub fn modify_order_address(order: &mut Order, address: Address) -> Result<(), RetailError> {
    if !order.status.is_pending() {
        return Err(RetailError::NotModifiable);
    }
    order.address = address;
    Ok(())
}

/// Replaces items of a pending order by other variants of the same products, once per order;
/// the price difference is charged to, or refunded on, `payment_method_id`.
pub fn modify_items(
    order: &mut Order,
    user: &mut User,
    catalog: &Catalog,
    item_ids: &[String],
    new_item_ids: &[String],
    payment_method_id: &str,
) -> Result<(), RetailError> {
    if order.status != OrderStatus::Pending {
        return Err(RetailError::NotModifiable);
    }
    check_items_in_order(order, item_ids)?;
    let difference = price_difference(order, catalog, item_ids, new_item_ids, true)?;
    let method = method(user, payment_method_id)?;
    if let Some(balance) = gift_card_balance(method) {
        if *balance < difference {
            return Err(RetailError::InsufficientBalance("the new item"));
        }
        *balance -= difference;
    }
    order.payment_history.push(Payment {
        transaction_type: if difference > Cents::ZERO {
            TransactionType::Payment
        } else {
            TransactionType::Refund
        },
        amount: difference.abs(),
        payment_method_id: payment_method_id.to_owned(),
    });
    for (old, new) in item_ids.iter().zip(new_item_ids) {
        let item = order
            .items
            .iter_mut()
            .find(|item| item.item_id == *old)
            .ok_or_else(|| RetailError::ItemNotInOrder(old.clone()))?;
        let variant = &catalog[&item.product_id].variants[new];
        item.item_id = new.clone();
        item.price = variant.price;
        item.options = variant.options.clone();
        // What the new item cost the store is not known from the order.
        item.cost = None;
    }
    order.status = OrderStatus::PendingItemModified;
    Ok(())
}

/// Pays a pending order with another method: the new one is charged and the old one refunded.
pub fn modify_payment(
    order: &mut Order,
    user: &mut User,
    payment_method_id: &str,
) -> Result<(), RetailError> {
    if !order.status.is_pending() {
        return Err(RetailError::NotModifiable);
    }
    method(user, payment_method_id)?;
    let [original] = order.payment_history.as_slice() else {
        return Err(RetailError::NotSinglePayment);
    };
    if original.transaction_type != TransactionType::Payment {
        return Err(RetailError::NotSinglePayment);
    }
    if original.payment_method_id == payment_method_id {
        return Err(RetailError::SamePaymentMethod);
    }
    let (amount, old_id) = (original.amount, original.payment_method_id.clone());
    method(user, &old_id)?;
    if let Some(balance) = gift_card_balance(method(user, payment_method_id)?) {
        if *balance < amount {
            return Err(RetailError::InsufficientBalance("the order"));
        }
        *balance -= amount;
    }
    if let Some(balance) = gift_card_balance(method(user, &old_id)?) {
        *balance += amount;
    }
    order.payment_history.push(Payment {
        transaction_type: TransactionType::Payment,
        amount,
        payment_method_id: payment_method_id.to_owned(),
    });
    order.payment_history.push(Payment {
        transaction_type: TransactionType::Refund,
        amount,
        payment_method_id: old_id,
    });
    Ok(())
}

/// Asks to return delivered items; the refund goes to the original payment method or a gift card.
pub fn request_return(
    order: &mut Order,
    user: &mut User,
    item_ids: &[String],
    payment_method_id: &str,
) -> Result<(), RetailError> {
    if order.status != OrderStatus::Delivered {
        return Err(RetailError::NotReturnable);
    }
    let is_gift_card = matches!(
        method(user, payment_method_id)?,
        PaymentMethod::GiftCard { .. }
    );
    let original = order
        .payment_history
        .first()
        .map(|p| p.payment_method_id.as_str());
    if !is_gift_card && original != Some(payment_method_id) {
        return Err(RetailError::NotOriginalPaymentMethod);
    }
    check_items_in_order(order, item_ids)?;
    let mut items = item_ids.to_vec();
    items.sort();
    order.status = OrderStatus::ReturnRequested;
    order.return_items = Some(items);
    order.return_payment_method_id = Some(payment_method_id.to_owned());
    Ok(())
}

/// Asks to exchange delivered items for other variants of the same products; the price
/// difference is settled on `payment_method_id` when the items come back.
pub fn request_exchange(
    order: &mut Order,
    user: &mut User,
    catalog: &Catalog,
    item_ids: &[String],
    new_item_ids: &[String],
    payment_method_id: &str,
) -> Result<(), RetailError> {
    if order.status != OrderStatus::Delivered {
        return Err(RetailError::NotExchangeable);
    }
    check_items_in_order(order, item_ids)?;
    let difference = price_difference(order, catalog, item_ids, new_item_ids, false)?;
    if let Some(balance) = gift_card_balance(method(user, payment_method_id)?)
        && *balance < difference
    {
        return Err(RetailError::InsufficientBalance("the price difference"));
    }
    let (mut old, mut new) = (item_ids.to_vec(), new_item_ids.to_vec());
    old.sort();
    new.sort();
    order.status = OrderStatus::ExchangeRequested;
    order.exchange_items = Some(old);
    order.exchange_new_items = Some(new);
    order.exchange_payment_method_id = Some(payment_method_id.to_owned());
    order.exchange_price_difference = Some(difference);
    Ok(())
}
