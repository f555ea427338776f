//! Why the store refuses an operation. Messages follow the tau2-retail reference, since agents
//! and their prompts are written against them.

use crate::error::{Code, HasCode};
use crate::store::StoreError;

/// A refusal by the store's rules, or a failure underneath them.
#[derive(Debug, thiserror::Error)]
pub enum RetailError {
    /// No customer with that id, email, or name and zip code.
    #[error("User not found")]
    UserNotFound,
    /// No order with that id (ids start with `#`).
    #[error("Order not found")]
    OrderNotFound,
    /// No product with that id.
    #[error("Product not found")]
    ProductNotFound,
    /// No item with that id in the catalog.
    #[error("Item not found")]
    ItemNotFound,
    /// The new item id is not a variant of the same product as the item it replaces.
    #[error("Variant not found")]
    VariantNotFound,
    /// The customer has no payment method with that id.
    #[error("Payment method not found")]
    PaymentMethodNotFound,
    /// Only an order whose status is exactly `pending` can be cancelled.
    #[error("Non-pending order cannot be cancelled")]
    NotCancellable,
    /// Only a pending order can be modified (its items only while exactly `pending`).
    #[error("Non-pending order cannot be modified")]
    NotModifiable,
    /// Only a delivered order can be returned.
    #[error("Non-delivered order cannot be returned")]
    NotReturnable,
    /// Only a delivered order can be exchanged.
    #[error("Non-delivered order cannot be exchanged")]
    NotExchangeable,
    /// The policy accepts only 'no longer needed' or 'ordered by mistake'.
    #[error("Invalid reason: it must be 'no longer needed' or 'ordered by mistake'")]
    InvalidCancelReason,
    /// No item ids were given.
    #[error("No items given")]
    NoItems,
    /// An item id is named more often than the order holds it.
    #[error("Number of {0} not found")]
    ItemNotInOrder(String),
    /// The lists of old and new item ids differ in length.
    #[error("The number of items to be exchanged should match")]
    ItemCountMismatch,
    /// An item would be "modified" into itself.
    #[error("The new item id should be different from the old item id")]
    SameItem,
    /// The new item cannot be ordered now.
    #[error("New item {0} not found or available")]
    ItemUnavailable(String),
    /// A refund for a return must go to the original payment method or a gift card.
    #[error("Payment method should be the original payment method")]
    NotOriginalPaymentMethod,
    /// A payment change needs an order paid once, by one method.
    #[error("There should be exactly one payment for a pending order")]
    NotSinglePayment,
    /// The new payment method is the one already used.
    #[error("The new payment method should be different from the current one")]
    SamePaymentMethod,
    /// The gift card's balance does not cover the amount.
    #[error("Insufficient gift card balance to pay for {0}")]
    InsufficientBalance(&'static str),
    /// The expression has characters other than digits, `+ - * / ( ) .` and spaces, or is malformed.
    #[error("Invalid expression: {0}")]
    InvalidExpression(String),
    /// The store failed underneath the rules.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HasCode for RetailError {
    fn code(&self) -> Code {
        use RetailError::*;
        match self {
            UserNotFound => Code::UserNotFound,
            OrderNotFound => Code::OrderNotFound,
            ProductNotFound => Code::ProductNotFound,
            ItemNotFound | VariantNotFound => Code::ItemNotFound,
            PaymentMethodNotFound => Code::PaymentMethodNotFound,
            NotCancellable | NotModifiable | NotReturnable | NotExchangeable => {
                Code::OrderStatusConflict
            }
            InvalidCancelReason => Code::InvalidCancelReason,
            NoItems | ItemNotInOrder(_) | ItemCountMismatch | SameItem => Code::InvalidItems,
            ItemUnavailable(_) => Code::ItemUnavailable,
            NotOriginalPaymentMethod | NotSinglePayment | SamePaymentMethod => {
                Code::InvalidPaymentMethod
            }
            InsufficientBalance(_) => Code::InsufficientBalance,
            InvalidExpression(_) => Code::InvalidExpression,
            Store(e) => e.code(),
        }
    }
}
