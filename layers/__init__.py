"""Layers, models, losses, metrics, callbacks, the training loop and save/load.

``layers.dense(units=4)`` and ``layers.Dense(4)`` build the same layer; string identifiers accept
TF.js camelCase and Keras snake_case spellings ('glorotNormal' / 'glorot_normal').
"""

from layers import (
    activations,
    callbacks,
    constraints,
    data,
    datasets,
    initializers,
    losses,
    metrics,
    mixed_precision,
    regularizers,
)
from layers.advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from layers.base import (
    LAYER_CLASSES,
    InputLayer,
    Layer,
    SymbolicTensor,
    deserialize_layer,
    get_layer_class,
    input,
    register_layer,
    serialize_layer,
)
from layers.callbacks import History
from layers.conv_lstm import ConvLSTM2D
from layers.convolutional import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
    UpSampling2D,
    ZeroPadding2D,
)
from layers.convolutional3d import AveragePooling3D, Conv3D, Conv3DTranspose, MaxPooling3D
from layers.core import (
    Activation,
    AlphaDropout,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GaussianNoise,
    Permute,
    RepeatVector,
    Reshape,
)
from layers.cropping import Cropping2D
from layers.masking import Masking
from layers.merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from layers.merge_dot import Dot, dot
from layers.models import Model, Sequential, model, sequential
from layers.noise import GaussianDropout, SpatialDropout1D
from layers.normalization import BatchNormalization, LayerNormalization
from layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from layers.preprocessing import (
    CategoryEncoding,
    CenterCrop,
    RandomWidth,
    Rescaling,
    Resizing,
)
from layers.recurrent import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
    TimeDistributed,
)
from layers.saving import load_model

# Keras aliases of class names, registered so configs using them load too.
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = (
    MaxPooling1D,
    MaxPooling2D,
    AveragePooling1D,
    AveragePooling2D,
)
for _alias, _cls in {
    "MaxPool1D": MaxPool1D,
    "MaxPool2D": MaxPool2D,
    "AvgPool1D": AvgPool1D,
    "AvgPool2D": AvgPool2D,
    "Convolution2D": Conv2D,
    "Convolution1D": Conv1D,
}.items():
    register_layer(_cls, _alias)

# Factories in snake_case (TF.js ``tf.layers.dense(...)``): each builds the class of the same name.
activation = Activation
alpha_dropout = AlphaDropout
average_pooling1d = AveragePooling1D
average_pooling2d = AveragePooling2D
batch_normalization = BatchNormalization
bidirectional = Bidirectional
conv1d = Conv1D
conv2d = Conv2D
conv2d_transpose = Conv2DTranspose
dense = Dense
depthwise_conv2d = DepthwiseConv2D
dropout = Dropout
embedding = Embedding
flatten = Flatten
gaussian_noise = GaussianNoise
global_average_pooling1d = GlobalAveragePooling1D
global_average_pooling2d = GlobalAveragePooling2D
global_max_pooling1d = GlobalMaxPooling1D
global_max_pooling2d = GlobalMaxPooling2D
gru = GRU
input_layer = InputLayer
layer_normalization = LayerNormalization
lstm = LSTM
max_pooling1d = MaxPooling1D
max_pooling2d = MaxPooling2D
permute = Permute
repeat_vector = RepeatVector
reshape = Reshape
separable_conv2d = SeparableConv2D
simple_rnn = SimpleRNN
time_distributed = TimeDistributed
up_sampling2d = UpSampling2D
zero_padding2d = ZeroPadding2D
# issue 21: advanced activations, cropping, noise and preprocessing layers
category_encoding = CategoryEncoding
center_crop = CenterCrop
cropping2d = Cropping2D
elu = ELU
gaussian_dropout = GaussianDropout
leaky_relu = LeakyReLU
prelu = PReLU
relu = ReLU
rescaling = Rescaling
resizing = Resizing
random_width = RandomWidth
softmax = Softmax
spatial_dropout1d = SpatialDropout1D
thresholded_relu = ThresholdedReLU
# issue 21: masking and the generic RNN layer with its cells
gru_cell = GRUCell
lstm_cell = LSTMCell
masking = Masking
rnn = RNN
simple_rnn_cell = SimpleRNNCell
stacked_rnn_cells = StackedRNNCells
# issue 21: 3-D convolution and pooling, ConvLSTM2D; Keras's short names of the 3-D pools
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
register_layer(MaxPool3D, "MaxPool3D")
register_layer(AvgPool3D, "AvgPool3D")
average_pooling3d = AveragePooling3D
conv3d = Conv3D
conv3d_transpose = Conv3DTranspose
conv_lstm2d = ConvLSTM2D
max_pooling3d = MaxPooling3D

__all__ = [
    "History",
    "callbacks",
    "mixed_precision",
    "datasets",
    "load_model",
    "losses",
    "metrics",
    "Activation",
    "Add",
    "AlphaDropout",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "InputLayer",
    "LAYER_CLASSES",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Model",
    "Multiply",
    "Permute",
    "RepeatVector",
    "Reshape",
    "SeparableConv2D",
    "Sequential",
    "SimpleRNN",
    "Subtract",
    "SymbolicTensor",
    "TimeDistributed",
    "UpSampling2D",
    "ZeroPadding2D",
    "activation",
    "activations",
    "add",
    "alpha_dropout",
    "average",
    "average_pooling1d",
    "average_pooling2d",
    "batch_normalization",
    "bidirectional",
    "concatenate",
    "constraints",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "data",
    "dense",
    "depthwise_conv2d",
    "deserialize_layer",
    "dropout",
    "embedding",
    "flatten",
    "gaussian_noise",
    "get_layer_class",
    "global_average_pooling1d",
    "global_average_pooling2d",
    "global_max_pooling1d",
    "global_max_pooling2d",
    "gru",
    "initializers",
    "input",
    "input_layer",
    "layer_normalization",
    "lstm",
    "max_pooling1d",
    "max_pooling2d",
    "maximum",
    "minimum",
    "model",
    "multiply",
    "permute",
    "register_layer",
    "regularizers",
    "repeat_vector",
    "reshape",
    "separable_conv2d",
    "sequential",
    "serialize_layer",
    "simple_rnn",
    "subtract",
    "time_distributed",
    "up_sampling2d",
    "zero_padding2d",
    "CategoryEncoding",
    "CenterCrop",
    "Cropping2D",
    "Dot",
    "ELU",
    "GaussianDropout",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Rescaling",
    "Resizing",
    "RandomWidth",
    "Softmax",
    "SpatialDropout1D",
    "ThresholdedReLU",
    "category_encoding",
    "center_crop",
    "cropping2d",
    "dot",
    "elu",
    "gaussian_dropout",
    "leaky_relu",
    "prelu",
    "relu",
    "rescaling",
    "resizing",
    "random_width",
    "softmax",
    "spatial_dropout1d",
    "thresholded_relu",
    "GRUCell",
    "LSTMCell",
    "Masking",
    "RNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "gru_cell",
    "lstm_cell",
    "masking",
    "rnn",
    "simple_rnn_cell",
    "stacked_rnn_cells",
    "AvgPool3D",
    "AveragePooling3D",
    "Conv3D",
    "Conv3DTranspose",
    "ConvLSTM2D",
    "MaxPool3D",
    "MaxPooling3D",
    "average_pooling3d",
    "conv3d",
    "conv3d_transpose",
    "conv_lstm2d",
    "max_pooling3d",
]
